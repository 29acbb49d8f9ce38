"""The Great Expectations side: suites become GX ExpectationSuites, frames become pandas
batches, results come back per check with the index of every failing row, and Data Docs are
built as static HTML.

GX takes seconds to import, so nothing here is imported before a run needs it. The context is
ephemeral (suites live in the repository as code, results in the warehouse); only the Data Docs
site is written to disk, rebuilt from scratch for each run.
"""

from __future__ import annotations

import logging
import shutil
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from expectations.checks import Check, Suite


@dataclass
class CheckOutcome:
    check: Check
    success: bool
    element_count: int = 0
    unexpected_count: int = 0
    unexpected_index: list[Any] = field(default_factory=list)
    error: str | None = None  # the expectation could not be evaluated

    def result(self, findings_stored: int) -> tuple[str, str, str, str, bool, int, int, int]:
        """What a run records of the check (quality_check_results, the run's summary): name,
        suite, table, severity, success, rows checked, rows unexpected, findings stored."""
        c = self.check
        return (
            c.name,
            c.suite,
            c.table,
            c.severity,
            self.success,
            self.element_count,
            self.unexpected_count,
            findings_stored,
        )


def _condition(spec: tuple[str, str, Any]) -> Any:
    """A check's row condition, (column, "==" or "!=", value), as a GX Condition."""
    from great_expectations.expectations.row_conditions import Column

    column, op, value = spec
    return Column(column) == value if op == "==" else Column(column) != value


class GxValidator:
    """One ephemeral GX context per quality run."""

    def __init__(self, docs_dir: Path | None, run_name: str, run_time: datetime) -> None:
        import great_expectations as gx
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
            ProgressBarsConfig,
        )

        logging.getLogger("great_expectations").setLevel(logging.ERROR)
        self._gx = gx
        self.docs_dir = docs_dir
        sites: dict[str, Any] = {}
        if docs_dir is not None:
            sites["local_site"] = {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }
        config = DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(),
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False),
            data_docs_sites=sites,
        )
        self.context = gx.get_context(mode="ephemeral", project_config=config)
        self.source = self.context.data_sources.add_pandas("bloodtrace_warehouse")
        self.run_id = RunIdentifier(run_name=run_name, run_time=run_time)

    def _expectation(self, check: Check) -> Any:
        import great_expectations.expectations as gxe

        cls = getattr(gxe, check.expectation)
        kwargs = dict(check.kwargs)
        if "row_condition" in kwargs:
            kwargs["row_condition"] = _condition(kwargs["row_condition"])
        meta = {"check": check.name, "severity": check.severity, "table": check.table}
        return cls(**kwargs, meta=meta, notes=check.en)

    def validate(self, suite: Suite, frame: pd.DataFrame) -> list[CheckOutcome]:
        gx = self._gx
        by_name = {c.name: c for c in suite.checks}
        gx_suite = self.context.suites.add(
            gx.ExpectationSuite(
                name=suite.name,
                expectations=[self._expectation(c) for c in suite.checks],
                meta={"about": suite.about, "table": suite.table},
            )
        )
        if frame.empty:
            # Nothing in the window: every expectation holds vacuously. The suite still shows
            # in the Data Docs; GX's per-suite bookkeeping (~0.1 s) is skipped.
            return [CheckOutcome(check, True) for check in suite.checks]
        asset = self.source.add_dataframe_asset(name=suite.name)
        batch = asset.add_batch_definition_whole_dataframe(f"{suite.name}_window")
        definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(name=suite.name, data=batch, suite=gx_suite)
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = definition.run(
                batch_parameters={"dataframe": frame},
                result_format={"result_format": "COMPLETE"},
                run_id=self.run_id,
            )
        outcomes = []
        for res in result.results:
            config = res.expectation_config
            assert config is not None and config.meta is not None
            check = by_name[config.meta["check"]]
            info = res.exception_info or {}
            if info.get("raised_exception"):
                message = str(info.get("exception_message") or "error")[:300]
                outcomes.append(CheckOutcome(check, False, error=message))
                continue
            details = res.result or {}
            outcomes.append(
                CheckOutcome(
                    check,
                    bool(res.success),
                    int(details.get("element_count") or 0),
                    int(details.get("unexpected_count") or 0),
                    list(details.get("unexpected_index_list") or []),
                )
            )
        return outcomes

    def build_docs(self) -> Path | None:
        """Rebuild the static Data Docs site for this run; returns its index.html."""
        if self.docs_dir is None:
            return None
        if self.docs_dir.exists():
            shutil.rmtree(self.docs_dir)
        self.docs_dir.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.context.build_data_docs()
        return self.docs_dir / "index.html"
