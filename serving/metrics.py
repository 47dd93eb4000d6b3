"""Request metrics of the serving process, in Prometheus' text format on ``GET /metrics``.

BentoML's own request metrics are switched off: it keeps them in prometheus_client's
multiprocess mode, where every update of every labelled value goes through a memory-mapped
file and a process-id check, and that cost about 20 µs a request, more than a propensity
model's arithmetic. These are plain counters on the event loop thread (every ASGI middleware
call runs there, whatever thread the endpoint itself uses), so recording one request costs a
few dictionary updates.

Exported, per endpoint (an API name; any other path is ``other``; health probes and
``/metrics`` itself are not counted):

- ``mercato_http_requests_total{endpoint, status}``: answered requests by HTTP status
  (``504``: BentoML's request timeout cancelled it),
- ``mercato_http_request_duration_seconds{endpoint}``: a histogram of time in the service,
- ``mercato_http_requests_in_progress{endpoint}``,
- ``mercato_served_model_version{model}``: the registry version each model answers with,
- from the latest monitor result (``monitoring``, re-read only when its file changes):
  ``mercato_feature_psi{family, feature}``, ``mercato_prediction_psi{family}``,
  ``mercato_realised_roc_auc{family}``, ``mercato_realised_ndcg{family, method}``,
  ``mercato_mart_age_seconds{mart}`` (marts and the online store, aged to the scrape),
  ``mercato_monitor_alerts`` and
  ``mercato_monitor_last_run_timestamp_seconds``,

followed by the process collector of ``prometheus_client`` (resident memory, CPU, open files).
The figures belong to the one worker process that answered the scrape: with
``MERCATO_SERVE_WORKERS`` above 1 each worker counts its own requests, and a scrape through the
shared port sees one of them (tell them apart by the process collector's figures).
"""

from __future__ import annotations

import json
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

#: Upper bounds of the latency histogram, seconds (``+Inf`` is implied).
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
METRICS_PATH = "/metrics"
#: Probed every few seconds by orchestrators: counting them would drown the API's figures.
UNCOUNTED = frozenset({"/healthz", "/livez", "/readyz", METRICS_PATH})
OTHER = "other"


class RequestMetrics:
    """Counters and latency histograms of one process's HTTP requests.

    ``endpoints`` are the API names (path ``/<name>``); label values come only from them, so a
    client sending random paths cannot grow the metrics without bound.
    """

    def __init__(self, endpoints: Iterable[str]) -> None:
        self._by_path = {"/" + name.strip("/"): name.strip("/") for name in endpoints}
        self._labels = [*self._by_path.values(), OTHER]
        self.requests: dict[tuple[str, int], int] = {}
        self.in_progress = dict.fromkeys(self._labels, 0)
        self._buckets = {e: [0] * (len(BUCKETS) + 1) for e in self._labels}
        self._sums = dict.fromkeys(self._labels, 0.0)
        #: set by the service: () -> {model name: served version or None}
        self.served_versions: Callable[[], dict[str, str | None]] | None = None
        #: set by the service: the monitor's latest result, shown as gauges
        self.monitor: MonitorGauges | None = None

    def endpoint_of(self, path: str) -> str | None:
        """The label of a path, or ``None`` for paths that are not counted."""
        name = self._by_path.get(path)
        if name is not None:
            return name
        return None if path in UNCOUNTED else OTHER

    def started(self, endpoint: str) -> None:
        self.in_progress[endpoint] += 1

    def finished(self, endpoint: str, status: int, seconds: float) -> None:
        """Record one answered (or cancelled) request."""
        self.in_progress[endpoint] -= 1
        key = (endpoint, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        self._buckets[endpoint][bisect_left(BUCKETS, seconds)] += 1
        self._sums[endpoint] += seconds

    def render(self) -> bytes:
        """Every metric in Prometheus' text exposition format (version 0.0.4)."""
        lines: list[str] = []
        name = "mercato_http_requests_total"
        _family(lines, name, "counter", "Answered HTTP requests.")
        for (endpoint, status), n in sorted(self.requests.items()):
            lines.append(f'{name}{{endpoint="{endpoint}",status="{status}"}} {n}')
        name = "mercato_http_request_duration_seconds"
        _family(lines, name, "histogram", "Time from request to response, in the service.")
        for endpoint in self._labels:
            counts = self._buckets[endpoint]
            total = sum(counts)
            if not total:
                continue
            cumulative = 0
            for bound, n in zip((*BUCKETS, float("inf")), counts, strict=True):
                cumulative += n
                le = "+Inf" if bound == float("inf") else repr(bound)
                lines.append(f'{name}_bucket{{endpoint="{endpoint}",le="{le}"}} {cumulative}')
            lines.append(f'{name}_sum{{endpoint="{endpoint}"}} {self._sums[endpoint]!r}')
            lines.append(f'{name}_count{{endpoint="{endpoint}"}} {total}')
        name = "mercato_http_requests_in_progress"
        _family(lines, name, "gauge", "Requests being answered now.")
        for endpoint in self._labels:
            lines.append(f'{name}{{endpoint="{endpoint}"}} {self.in_progress[endpoint]}')
        if self.served_versions is not None:
            name = "mercato_served_model_version"
            _family(lines, name, "gauge", "Registry version each model answers with.")
            for model, version in sorted(self.served_versions().items()):
                if version is not None and version.isdigit():
                    lines.append(f'{name}{{model="{model}"}} {version}')
        if self.monitor is not None:
            lines.extend(self.monitor.lines())
        return ("\n".join(lines) + "\n").encode() + _process_metrics()


class MonitorGauges:
    """Gauges of the latest monitor result file, parsed again only when the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: float | None = None
        self._result: dict[str, Any] | None = None

    def result(self) -> dict[str, Any] | None:
        try:
            stamp = self.path.stat().st_mtime
        except OSError:
            self._stamp, self._result = None, None
            return None
        if stamp != self._stamp:
            try:
                self._result = json.loads(self.path.read_text())
            except (OSError, ValueError):
                self._result = None
            self._stamp = stamp
        return self._result

    def lines(self, now: float | None = None) -> list[str]:
        """The result's figures in the text format; nothing before the first monitor run."""
        result = self.result()
        if result is None:
            return []
        now = time.time() if now is None else now
        at = datetime.fromisoformat(result["at"]).timestamp()
        lines: list[str] = []
        name = "mercato_feature_psi"
        _family(lines, name, "gauge", "PSI of each champion input, newest snapshot vs training.")
        parts = {f: p for f, p in result.get("families", {}).items() if not p.get("skipped")}
        for family, part in sorted(parts.items()):
            for d in part["features"]:
                lines.append(f'{name}{{family="{family}",feature="{d["feature"]}"}} {d["psi"]!r}')
        name = "mercato_prediction_psi"
        _family(lines, name, "gauge", "PSI of each champion's scores, newest snapshot vs training.")
        for family, part in sorted(parts.items()):
            lines.append(f'{name}{{family="{family}"}} {part["prediction"]["psi"]!r}')
        name = "mercato_realised_roc_auc"
        _family(lines, name, "gauge", "ROC-AUC of the newest matured predictions.")
        latest = {r["family"]: r for r in result.get("realised", []) if r["roc_auc"] is not None}
        for family, r in sorted(latest.items()):
            lines.append(f'{name}{{family="{family}"}} {r["roc_auc"]!r}')
        name = "mercato_realised_ndcg"
        _family(
            lines,
            name,
            "gauge",
            "NDCG@k of the newest matured top-k lists and of popularity on the same purchases.",
        )
        ranked = {r["family"]: r for r in result.get("realised_topk", []) if r["metrics"]}
        for family, r in sorted(ranked.items()):
            for method, values in (("champion", r["metrics"]), ("popularity", r["popularity"])):
                value = values[f"ndcg_at_{r['k']}"]
                lines.append(f'{name}{{family="{family}",method="{method}"}} {value!r}')
        name = "mercato_mart_age_seconds"
        _family(
            lines,
            name,
            "gauge",
            "Seconds since each mart was rebuilt and gated (or the online store materialized).",
        )
        for a in result.get("freshness", []):
            if a["age_seconds"] is not None:
                age = a["age_seconds"] + max(now - at, 0.0)
                lines.append(f'{name}{{mart="{a["name"]}"}} {age!r}')
        _family(lines, "mercato_monitor_alerts", "gauge", "Limits crossed at the last monitor run.")
        lines.append(f"mercato_monitor_alerts {len(result.get('alerts', []))}")
        name = "mercato_monitor_last_run_timestamp_seconds"
        _family(lines, name, "gauge", "When the monitor last ran (Unix time).")
        lines.append(f"{name} {at!r}")
        return lines


def _family(lines: list[str], name: str, kind: str, help_text: str) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} {kind}")


def _process_metrics() -> bytes:
    """Resident memory, CPU time and open files of this process (prometheus_client's own)."""
    from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest

    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    return generate_latest(registry)
