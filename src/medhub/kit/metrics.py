"""Prometheus metrics: requests by route template and status, latency, DB pool gauges."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class Metrics:
    """One registry per app, so tests and several apps in one process never collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "medhub_http_requests",
            "HTTP requests handled, by method, route template and status code",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "medhub_http_request_duration_seconds",
            "Time from request start to response end, by method and route template",
            ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def add_pool_gauges(self, read_status: Callable[[], dict[str, int]]) -> None:
        self.registry.register(_PoolCollector(read_status))


class _PoolCollector(Collector):
    def __init__(self, read_status: Callable[[], dict[str, int]]) -> None:
        self._read_status = read_status

    def collect(self) -> Iterator[GaugeMetricFamily]:
        status = self._read_status()
        for key, help_text in (
            ("size", "Configured size of the database connection pool"),
            ("checked_out", "Database connections in use by requests"),
            ("checked_in", "Idle database connections in the pool"),
            ("overflow", "Connections opened beyond the pool size"),
        ):
            gauge = GaugeMetricFamily(f"medhub_db_pool_{key}", help_text)
            gauge.add_metric([], status[key])
            yield gauge
