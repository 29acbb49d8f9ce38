"""Data quality with Great Expectations: checks over the warehouse, and why units were lost.

- suites.py: the suites, as code (one per warehouse table, five across tables)
- frames.py, wastage.py: the frames they validate, pulled through clickhouse-connect;
  builders.py: which function pulls each suite's frame
- causes.py: evidence -> discard cause (pure functions)
- gx_engine.py: GX (imported lazily: it takes seconds), Data Docs
- runner.py: ``run_quality``, ``scheduled_quality_run``, ``quality_summary``
- store.py: the quality_runs, quality_check_results, quality_findings, discard_causes tables

Importing this package does not import GX.
"""
