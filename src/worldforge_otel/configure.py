"""``configure()``: the one front door. It attaches to the host's OTel providers, or creates them.

Usage::

    import worldforge_otel
    from worldforge import WorldForge

    telemetry = worldforge_otel.configure(rerun=worldforge_otel.RerunOptions(save_path="run.rrd"))
    forge = WorldForge(event_handler=telemetry)
    ...
    telemetry.shutdown()

If the host already registered SDK providers (e.g. with an OTLP exporter to Jaeger), ``configure()`` adds
a ``BatchSpanProcessor`` and a ``PeriodicExportingMetricReader`` for Rerun to them, so the same spans go
to both. If nothing is registered it creates SDK providers and registers them globally (once; OTel
allows that only once per process). A second call with the same arguments returns the same handle; with
different arguments it raises :class:`AlreadyConfiguredError` instead of silently resetting anything.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.metrics import MeterProvider
from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import TracerProvider

from worldforge_otel.instrumentation import HandlerStats, ProviderEventHandler
from worldforge_otel.rerun import RerunMetricExporter, RerunOptions, RerunSink, RerunSpanExporter

_LOG = logging.getLogger(__name__)
DEFAULT_SHUTDOWN_TIMEOUT_MILLIS = 10_000


class AlreadyConfiguredError(RuntimeError):
    """``configure()`` was called again with different arguments while the first handle is still active."""


@dataclass(frozen=True, slots=True)
class _Arguments:
    rerun: RerunOptions | None
    service_name: str | None
    tracer_provider: int | None
    meter_provider: int | None
    metric_export_interval_millis: float | None
    set_global_providers: bool


class _DetachableSpanProcessor(SpanProcessor):
    """Forwards to a processor until shut down; the host's provider keeps it, but it goes quiet."""

    def __init__(self, processor: SpanProcessor) -> None:
        self._processor = processor
        self._active = True

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if self._active:
            self._processor.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        if self._active:
            self._processor.on_end(span)

    def shutdown(self) -> None:
        if self._active:
            self._active = False
            self._processor.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._processor.force_flush(timeout_millis) if self._active else False


class Telemetry:
    """The handle ``configure()`` returns: call it with a ProviderEvent, flush it, shut it down."""

    def __init__(
        self,
        *,
        handler: ProviderEventHandler,
        tracer_provider: TracerProvider,
        meter_provider: MeterProvider,
        span_processor: _DetachableSpanProcessor | None,
        metric_reader: MetricReader | None,
        span_exporter: RerunSpanExporter | None,
        owned_providers: tuple[SdkTracerProvider | SdkMeterProvider, ...],
    ) -> None:
        self.handler = handler
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self._span_processor = span_processor
        self._metric_reader = metric_reader
        self._span_exporter = span_exporter
        self._owned_providers = owned_providers
        self._lock = threading.Lock()
        self.is_shut_down = False

    def __call__(self, event: object) -> None:
        """Record one ProviderEvent (so the handle itself is a WorldForge ``event_handler``)."""
        self.handler(event)

    @property
    def rerun_sink(self) -> RerunSink | None:
        """The Rerun sink, when Rerun export is on."""
        return self._span_exporter.sink if self._span_exporter is not None else None

    @property
    def recording_path(self) -> Path | None:
        """The ``.rrd`` file being written, if any."""
        sink = self.rerun_sink
        return sink.save_path if sink is not None else None

    @property
    def stats(self) -> HandlerStats:
        """Events the handler recorded and dropped."""
        return self.handler.stats

    @property
    def spans_exported(self) -> int:
        """Spans written to Rerun so far."""
        return self._span_exporter.spans_exported if self._span_exporter is not None else 0

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Export everything pending now; True when every part flushed in time."""
        ok = True
        if self._span_processor is not None:
            ok = self._span_processor.force_flush(timeout_millis) and ok
        if self._metric_reader is not None:
            ok = self._metric_reader.force_flush(timeout_millis) and ok
        sink = self.rerun_sink
        if sink is not None:
            ok = sink.flush(timeout_millis / 1000.0) and ok
        return ok

    def shutdown(self, timeout_millis: int = DEFAULT_SHUTDOWN_TIMEOUT_MILLIS) -> None:
        """Flush, detach from the host's providers and close the recording; idempotent."""
        with self._lock:
            if self.is_shut_down:
                return
            self.is_shut_down = True
        self.handler.enabled = False
        owns_meter_provider = self.meter_provider in self._owned_providers
        if self._metric_reader is not None and not owns_meter_provider:
            if isinstance(self.meter_provider, SdkMeterProvider):
                self.meter_provider.remove_metric_reader(self._metric_reader)  # also shuts it down
            else:
                self._metric_reader.shutdown(timeout_millis=timeout_millis)
        if self._span_processor is not None:
            self._span_processor.shutdown()
        for provider in self._owned_providers:
            provider.shutdown()


_STATE_LOCK = threading.Lock()
_ACTIVE: tuple[_Arguments, Telemetry] | None = None


def configure(
    *,
    rerun: RerunOptions | bool = True,
    service_name: str | None = None,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    metric_export_interval_millis: float | None = None,
    set_global_providers: bool = True,
) -> Telemetry:
    """Set up WorldForge -> OpenTelemetry (-> Rerun) and return the handle.

    Args:
        rerun: ``True`` for the default ``.rrd`` file, :class:`RerunOptions` to choose destinations,
            ``False`` for OpenTelemetry only.
        service_name: ``service.name`` of providers created here (``OTEL_SERVICE_NAME`` otherwise).
        tracer_provider: Provider to attach to; the global one when omitted.
        meter_provider: Provider to attach to; the global one when omitted.
        metric_export_interval_millis: How often metrics go to Rerun (``OTEL_METRIC_EXPORT_INTERVAL``).
        set_global_providers: Register providers created here as the OTel globals.

    Returns:
        A :class:`Telemetry` handle; pass it as ``WorldForge(event_handler=...)``.

    Raises:
        AlreadyConfiguredError: a previous handle with different arguments is still active.
    """
    global _ACTIVE  # noqa: PLW0603
    options = RerunOptions() if rerun is True else (rerun or None)
    arguments = _Arguments(
        options,
        service_name,
        id(tracer_provider) if tracer_provider is not None else None,
        id(meter_provider) if meter_provider is not None else None,
        metric_export_interval_millis,
        set_global_providers,
    )
    with _STATE_LOCK:
        if _ACTIVE is not None and not _ACTIVE[1].is_shut_down:
            if _ACTIVE[0] == arguments:
                _LOG.debug("worldforge_otel.configure() called again with the same arguments; reusing the handle")
                return _ACTIVE[1]
            raise AlreadyConfiguredError(
                "worldforge_otel.configure() was already called with different arguments; call "
                ".shutdown() on the first handle before configuring again"
            )
        telemetry = _build(arguments, tracer_provider, meter_provider)
        _ACTIVE = (arguments, telemetry)
        return telemetry


def _build(
    arguments: _Arguments, tracer_provider: TracerProvider | None, meter_provider: MeterProvider | None
) -> Telemetry:
    resource = Resource.create({SERVICE_NAME: arguments.service_name} if arguments.service_name else {})
    owned: list[SdkTracerProvider | SdkMeterProvider] = []
    options = arguments.rerun

    tracer_provider = tracer_provider or trace.get_tracer_provider()
    if isinstance(tracer_provider, trace.ProxyTracerProvider):
        tracer_provider = SdkTracerProvider(resource=resource)
        owned.append(tracer_provider)
        if arguments.set_global_providers:
            trace.set_tracer_provider(tracer_provider)
    span_exporter = RerunSpanExporter(options=options) if options is not None else None
    span_processor = None
    if span_exporter is not None:
        if isinstance(tracer_provider, SdkTracerProvider):
            span_processor = _DetachableSpanProcessor(BatchSpanProcessor(span_exporter))
            tracer_provider.add_span_processor(span_processor)
        else:
            _LOG.warning(
                "worldforge_otel: the TracerProvider %s is not an OpenTelemetry SDK provider, so spans cannot "
                "also go to Rerun; pass tracer_provider=opentelemetry.sdk.trace.TracerProvider(...)",
                type(tracer_provider).__name__,
            )
            span_exporter.shutdown()
            span_exporter = None

    metric_reader = None
    if options is not None:
        metric_reader = PeriodicExportingMetricReader(
            RerunMetricExporter(options=options),
            export_interval_millis=arguments.metric_export_interval_millis,
        )
    meter_provider = meter_provider or metrics.get_meter_provider()
    if isinstance(meter_provider, SdkMeterProvider):
        if metric_reader is not None:
            meter_provider.add_metric_reader(metric_reader)  # SDK >= 1.36
    elif _is_proxy_meter_provider(meter_provider):
        meter_provider = SdkMeterProvider(
            resource=resource, metric_readers=[metric_reader] if metric_reader is not None else []
        )
        owned.append(meter_provider)
        if arguments.set_global_providers:
            metrics.set_meter_provider(meter_provider)
    elif metric_reader is not None:
        _LOG.warning(
            "worldforge_otel: the MeterProvider %s is not an OpenTelemetry SDK provider, so metrics cannot "
            "also go to Rerun; pass meter_provider=opentelemetry.sdk.metrics.MeterProvider(...)",
            type(meter_provider).__name__,
        )
        metric_reader.shutdown()
        metric_reader = None

    handler = ProviderEventHandler(tracer_provider=tracer_provider, meter_provider=meter_provider)
    return Telemetry(
        handler=handler,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        span_processor=span_processor,
        metric_reader=metric_reader,
        span_exporter=span_exporter,
        owned_providers=tuple(owned),
    )


def _is_proxy_meter_provider(provider: MeterProvider) -> bool:
    # The API's placeholder before any provider is set (a private class, so matched by name).
    return type(provider).__name__ in {"_ProxyMeterProvider", "ProxyMeterProvider", "NoOpMeterProvider"}
