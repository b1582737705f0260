"""The receiver's own health as OpenTelemetry metrics: into its recording, over OTLP, and for Prometheus.

:func:`start_health` registers observable instruments on a ``MeterProvider`` of the receiver's own (service
``worldforge-otel-receive``) that read the pipeline's counters when collected:

| metric | kind | attributes (and ``receiver``: ``<host>:<pid>``) |
|---|---|---|
| ``worldforge_otel.receive.items`` | counter | ``signal``, ``outcome`` (received, written, failed, refused, rejected) |
| ``worldforge_otel.receive.malformed_requests`` | counter | ``signal`` |
| ``worldforge_otel.receive.queue.requests`` / ``.queue.items`` / ``.queue.bytes`` | gauge | |
| ``worldforge_otel.receive.recordings.open`` / ``.recordings.overflowed_services`` | gauge | |

A ``PeriodicExportingMetricReader`` writes them into the recording (``otel/metrics/worldforge-otel-receive/...``,
next to the data), and another sends them over OTLP when an endpoint is given. :func:`prometheus_text` renders
the same numbers in the Prometheus text format, which the OTLP/HTTP receiver serves on ``GET /metrics`` for the
scrapers a Collector fleet's dashboards already use (rendered here from the counters: a dozen lines, rather than
a second HTTP server and a dependency pinned to the SDK's version).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from worldforge_otel.version import __version__

if TYPE_CHECKING:
    from worldforge_otel.collector.pipeline import Pipeline
    from worldforge_otel.rerun.sinks import RerunSink

SERVICE_NAME: Final = "worldforge-otel-receive"
PREFIX: Final = "worldforge_otel.receive"
OUTCOMES: Final = ("received", "written", "failed", "refused", "rejected")
SIGNALS: Final = ("traces", "metrics", "logs")
EXPORT_INTERVAL_MILLIS: Final = 5_000


@dataclass(frozen=True, slots=True)
class Reading:
    """One number of the receiver's health: metric name, kind, attributes, value."""

    name: str
    kind: str  # "counter" or "gauge"
    attributes: tuple[tuple[str, str], ...]
    value: float


def readings(pipeline: Pipeline) -> Iterator[Reading]:
    """The receiver's health now."""
    for signal in SIGNALS:
        for outcome in OUTCOMES:
            count = getattr(pipeline, outcome)[signal]
            yield Reading(f"{PREFIX}.items", "counter", (("signal", signal), ("outcome", outcome)), count)
        yield Reading(f"{PREFIX}.malformed_requests", "counter", (("signal", signal),), pipeline.malformed[signal])
    depth = pipeline.queue_depth()
    yield Reading(f"{PREFIX}.queue.requests", "gauge", (), depth.requests)
    yield Reading(f"{PREFIX}.queue.items", "gauge", (), depth.items)
    yield Reading(f"{PREFIX}.queue.bytes", "gauge", (), depth.bytes)
    yield Reading(f"{PREFIX}.recordings.open", "gauge", (), len(pipeline.recordings))
    yield Reading(f"{PREFIX}.recordings.overflowed_services", "gauge", (), pipeline.recordings.overflowed_services)


def start_health(pipeline: Pipeline, *, sink: RerunSink | None, otlp_exporter: Any = None) -> MeterProvider:
    """A MeterProvider observing ``pipeline``, exporting into ``sink`` and over OTLP (either may be None)."""
    from worldforge_otel.rerun.metric_exporter import RerunMetricExporter

    readers: list[MetricReader] = []
    if sink is not None:
        readers.append(PeriodicExportingMetricReader(RerunMetricExporter(sink=sink), EXPORT_INTERVAL_MILLIS))
    if otlp_exporter is not None:
        readers.append(PeriodicExportingMetricReader(otlp_exporter, EXPORT_INTERVAL_MILLIS))
    instance = f"{socket.gethostname()}:{os.getpid()}"  # receivers of a fleet report to one place: kept apart
    resource = Resource.create({"service.name": SERVICE_NAME, "service.instance.id": instance})
    provider = MeterProvider(metric_readers=readers, resource=resource)
    meter = provider.get_meter("worldforge_otel.collector", __version__)
    kinds: dict[str, str] = {}
    for reading in readings(pipeline):
        kinds.setdefault(reading.name, reading.kind)
    for name, kind in kinds.items():
        callback = _callback(pipeline, name, instance)
        if kind == "counter":
            meter.create_observable_counter(name, [callback], unit="{item}" if name.endswith("items") else "1")
        else:
            meter.create_observable_gauge(name, [callback])
    return provider


def _callback(pipeline: Pipeline, name: str, instance: str) -> Any:
    def observe(options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(r.value, {**dict(r.attributes), "receiver": instance})
                for r in readings(pipeline) if r.name == name]  # fmt: skip

    return observe


def prometheus_text(pipeline: Pipeline) -> str:
    """The health in the Prometheus text exposition format (``_total`` for counters, dots as underscores)."""
    lines: list[str] = []
    typed: set[str] = set()
    for reading in readings(pipeline):
        metric = reading.name.replace(".", "_") + ("_total" if reading.kind == "counter" else "")
        if metric not in typed:
            typed.add(metric)
            lines.append(f"# TYPE {metric} {reading.kind}")
        labels = ",".join(f'{key}="{value}"' for key, value in reading.attributes)
        lines.append(f"{metric}{{{labels}}} {reading.value:g}" if labels else f"{metric} {reading.value:g}")
    return "\n".join(lines) + "\n"
