"""The handler's metric instruments; labels are low-cardinality only (never target, URL or message)."""

from __future__ import annotations

from opentelemetry.metrics import MeterProvider, get_meter_provider

from worldforge_otel import semconv
from worldforge_otel.events import EventRecord
from worldforge_otel.instrumentation.span_attributes import error_type
from worldforge_otel.version import __version__

_Labels = dict[str, str]


class ProviderMetrics:
    """Duration histogram (seconds) and event/retry/failure counters for ProviderEvents.

    Events of GenAI operations (``generate``, ``embed``, ``reason``) are also measured on the GenAI semantic
    conventions' ``gen_ai.client.operation.duration`` (seconds, the spec's advisory buckets), with
    ``gen_ai.operation.name``, ``gen_ai.provider.name`` and, for failures, ``error.type``.
    """

    def __init__(self, meter_provider: MeterProvider | None = None) -> None:
        meter = (meter_provider or get_meter_provider()).get_meter(
            semconv.INSTRUMENTATION_SCOPE, __version__
        )
        self._duration = meter.create_histogram(
            semconv.DURATION_METRIC,
            unit="s",
            description="Duration of WorldForge provider calls, one measurement per attempt.",
            explicit_bucket_boundaries_advisory=list(semconv.DURATION_BUCKETS_SECS),
        )
        self._events = meter.create_counter(
            semconv.EVENTS_METRIC, unit="{event}", description="WorldForge provider events received."
        )
        self._retries = meter.create_counter(
            semconv.RETRIES_METRIC, unit="{retry}", description="WorldForge provider attempts that were retried."
        )
        self._failures = meter.create_counter(
            semconv.FAILURES_METRIC, unit="{failure}", description="WorldForge provider calls that failed."
        )
        self._gen_ai_duration = meter.create_histogram(
            semconv.GEN_AI_CLIENT_OPERATION_DURATION,
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=list(semconv.GEN_AI_DURATION_BUCKETS_SECS),
        )
        self._labels: dict[tuple[str, str, str], _Labels] = {}
        self._gen_ai_labels: dict[tuple[str, str, str | None], _Labels] = {}

    def record_batch(self, records: list[EventRecord]) -> None:
        """Record the measurements of several events: one counter call per label set, one histogram value each.

        Counters are summed per label set first (a sum is a sum, however it is added up); the duration
        histogram gets every value, as its buckets need them.
        """
        counts: dict[int, tuple[_Labels, str, int]] = {}  # id of the (shared) label dict -> labels, phase, count
        for record in records:
            labels = self._labels_for(record)
            _, _, count = counts.get(id(labels), (labels, record.phase, 0))
            counts[id(labels)] = (labels, record.phase, count + 1)
            if record.duration_ms is not None:
                self._duration.record(record.duration_ms / 1000.0, labels)
                gen_ai = self._gen_ai_labels_for(record)
                if gen_ai is not None:
                    self._gen_ai_duration.record(record.duration_ms / 1000.0, gen_ai)
        for labels, phase, count in counts.values():
            self._events.add(count, labels)
            if phase == "retry":
                self._retries.add(count, labels)
            elif phase == "failure":
                self._failures.add(count, labels)

    def _labels_for(self, record: EventRecord) -> _Labels:
        key = (record.provider, record.operation, record.phase)
        labels = self._labels.get(key)  # bounded: providers and operations are the host's own, phases three
        if labels is None:
            labels = {
                semconv.PROVIDER: record.provider,
                semconv.OPERATION: record.operation,
                semconv.PHASE: record.phase,
                semconv.CAPABILITY: semconv.capability_of(record.operation),
            }
            self._labels[key] = labels
        return labels

    def _gen_ai_labels_for(self, record: EventRecord) -> _Labels | None:
        operation = semconv.GEN_AI_OPERATIONS.get(record.operation)
        if operation is None:
            return None
        failed = error_type(record) if record.phase == "failure" else None
        key = (record.provider, operation, failed)
        labels = self._gen_ai_labels.get(key)  # bounded: providers, three operations, the hosts' error types
        if labels is None:
            labels = {semconv.GEN_AI_OPERATION_NAME: operation, semconv.GEN_AI_PROVIDER_NAME: record.provider}
            if failed is not None:
                labels[semconv.ERROR_TYPE] = failed
            self._gen_ai_labels[key] = labels
        return labels
