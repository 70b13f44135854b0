"""The worker's Prometheus figures and the content type of its `/metrics/` page."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

# Prometheus' text format; aiohttp refuses a charset inside content_type (prometheus-client's
# CONTENT_TYPE_LATEST has one, so the page failed), and the text format is UTF-8 anyway.
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4"


class WorkerMetrics:
    """Figures on a registry of the app's own, so several apps can live in one process. The dead
    letters and the sinks add theirs to the same registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.updates = Counter("dipwatch_updates", "Valid updates observed", registry=r)
        self.pages = Counter("dipwatch_pages", "Series sustained_drop pages published", registry=r)
        self.events = Counter("dipwatch_events", "Anomaly events published", ["kind", "scope"], registry=r)
        self.lag = Gauge("dipwatch_partition_lag", "Messages behind the end", ["partition"], registry=r)
        self.reread = Counter("dipwatch_partitions_reread", "Partitions sought back over stuck commits", registry=r)
        self.checkpoint_age = Gauge("dipwatch_checkpoint_age_seconds", "Seconds since state was last saved "
                                    "and offsets acknowledged", registry=r)  # fmt: skip
