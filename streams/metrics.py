"""Prometheus metrics of the running platform (served at GET /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """One registry per platform instance, so tests can run several side by side."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.accepted = Counter(
            "bloodtrace_events_accepted", "Events validated and written", registry=r
        )
        self.rejected = Counter(
            "bloodtrace_events_rejected", "Events refused, by reason", ["reason"], registry=r
        )
        self.auth_refusals = Counter(
            "bloodtrace_auth_refusals",
            "Requests refused by authentication or authorisation, by reason",
            ["reason"],
            registry=r,
        )
        self.duplicates = Counter(
            "bloodtrace_events_duplicate",
            "Events dropped because their event_id was already written",
            registry=r,
        )
        self.rows_written = Counter(
            "bloodtrace_rows_written",
            "Rows written to the warehouse, by table",
            ["table"],
            registry=r,
        )
        self.skipped = Counter(
            "bloodtrace_rows_skipped",
            "Rows or events the sink did not write, by reason (already stored by identity, "
            "repeated in a batch, an event resent from another message)",
            ["reason"],
            registry=r,
        )
        self.consumer_lag = Gauge(
            "bloodtrace_consumer_lag",
            "Messages not yet processed, by topic and partition",
            ["topic", "partition"],
            registry=r,
        )
        self.retries = Counter(
            "bloodtrace_write_retries",
            "Writes retried after a transient error (warehouse or broker down), by error",
            ["error"],
            registry=r,
        )
        self.sink_batch_size = Histogram(
            "bloodtrace_sink_batch_size",
            "Events per sink batch",
            buckets=(1, 10, 100, 500, 1000, 2000, 5000, 10000),
            registry=r,
        )
        self.sink_batch_seconds = Histogram(
            "bloodtrace_sink_batch_seconds",
            "Seconds to write one batch to the warehouse",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )

    def snapshot(self) -> dict[str, object]:
        """The same figures as a dict, for `bloodtrace status` and the demo summary."""
        out: dict[str, object] = {
            "accepted": 0,
            "rejected": {},
            "duplicates": 0,
            "rows_written": {},
            "skipped": {},
            "consumer_lag": {},
            "sink": {},
            "retries": {},
        }
        for family in self.registry.collect():
            for sample in family.samples:
                name, labels, value = sample.name, sample.labels, sample.value
                if name == "bloodtrace_events_accepted_total":
                    out["accepted"] = int(value)
                elif name == "bloodtrace_events_duplicate_total":
                    out["duplicates"] = int(value)
                elif name == "bloodtrace_events_rejected_total":
                    out["rejected"][labels["reason"]] = int(value)  # type: ignore[index]
                elif name == "bloodtrace_rows_written_total":
                    out["rows_written"][labels["table"]] = int(value)  # type: ignore[index]
                elif name == "bloodtrace_write_retries_total":
                    out["retries"][labels["error"]] = int(value)  # type: ignore[index]
                elif name == "bloodtrace_rows_skipped_total":
                    out["skipped"][labels["reason"]] = int(value)  # type: ignore[index]
                elif name == "bloodtrace_consumer_lag":
                    key = f"{labels['topic']}[{labels['partition']}]"
                    out["consumer_lag"][key] = int(value)  # type: ignore[index]
                elif name == "bloodtrace_sink_batch_size_count":
                    out["sink"]["batches"] = int(value)  # type: ignore[index]
                elif name == "bloodtrace_sink_batch_size_sum":
                    out["sink"]["events"] = int(value)  # type: ignore[index]
                elif name == "bloodtrace_sink_batch_seconds_sum":
                    out["sink"]["seconds"] = round(value, 3)  # type: ignore[index]
        return out
