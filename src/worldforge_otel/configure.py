"""``configure()``: the one front door. It attaches to the host's OTel providers, or creates them.

Usage::

    import worldforge_otel
    from worldforge import WorldForge

    telemetry = worldforge_otel.configure(
        rerun=worldforge_otel.RerunOptions(save_path="run.rrd"),
        otlp_endpoint="http://127.0.0.1:4317",  # the same spans to Jaeger / a collector, optional
    )
    forge = WorldForge(event_handler=telemetry)
    ...
    telemetry.shutdown()

If the host already registered SDK providers (e.g. with its own OTLP exporter), ``configure()`` adds
processors and readers for Rerun (and OTLP, when asked) to them, so everything goes to all of them. An
exporter of the same kind already attached (e.g. by ``OTEL_TRACES_EXPORTER=rerun``) is not added twice.
If nothing is registered it creates SDK providers and registers them globally (once; OTel allows that only
once per process). A second call with the same arguments returns the same handle; with different
arguments it raises :class:`AlreadyConfiguredError` instead of silently resetting anything.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry import _logs, metrics, trace
from opentelemetry.metrics import MeterProvider
from opentelemetry.sdk._logs import LoggerProvider as SdkLoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import TracerProvider

from worldforge_otel import _env, otlp
from worldforge_otel._deadline import within
from worldforge_otel._fork import ForkSafeLock
from worldforge_otel._providers import (
    DetachableLogProcessor,
    DetachableSpanProcessor,
    attached_objects,
    find_attached,
    is_placeholder,
)
from worldforge_otel.instrumentation import ArtifactRecorder, HandlerStats, ProviderEventHandler
from worldforge_otel.instrumentation.artifacts import DEFAULT_MAX_PAYLOAD_CHARS
from worldforge_otel.python_logging import install_logging_handler, remove_logging_handler
from worldforge_otel.rerun import RerunMetricExporter, RerunOptions, RerunSink, RerunSpanExporter
from worldforge_otel.rerun.at_exit import flush_before_exit, flush_feeders, provider_finished
from worldforge_otel.rerun.log_exporter import RerunLogExporter

_LOG = logging.getLogger(__name__)
DEFAULT_SHUTDOWN_TIMEOUT_MILLIS = 10_000


class AlreadyConfiguredError(RuntimeError):
    """``configure()`` was called again with different arguments while the first handle is still active."""


@dataclass(frozen=True, slots=True)
class BatchOptions:
    """``BatchSpanProcessor`` settings; ``None`` means ``OTEL_BSP_*``, then the SDK default."""

    max_queue_size: int | None = None
    schedule_delay_millis: float | None = None
    max_export_batch_size: int | None = None
    export_timeout_millis: float | None = None


@dataclass(frozen=True, slots=True)
class _Arguments:
    rerun: RerunOptions | None
    service_name: str | None
    otlp_endpoint: str | None
    otlp_protocol: str | None
    log_level: int | str | None
    provider_ids: tuple[int | None, int | None, int | None]
    metric_export_interval_millis: float | None
    batch: BatchOptions
    max_artifact_payload_chars: int
    set_global_providers: bool


@dataclass
class _Parts:
    """What ``configure()`` attached or created, so the handle can flush and undo exactly that."""

    span_processors: list[DetachableSpanProcessor] = field(default_factory=list)
    metric_readers: list[MetricReader] = field(default_factory=list)
    log_processors: list[DetachableLogProcessor] = field(default_factory=list)
    owned_providers: list[SdkTracerProvider | SdkMeterProvider | SdkLoggerProvider] = field(default_factory=list)
    logging_handler: logging.Handler | None = None
    rerun_span_exporter: RerunSpanExporter | None = None


class Telemetry:
    """The handle ``configure()`` returns: call it with a ProviderEvent, flush it, shut it down."""

    def __init__(
        self,
        *,
        handler: ProviderEventHandler,
        tracer_provider: TracerProvider,
        meter_provider: MeterProvider,
        logger_provider: Any,
        parts: _Parts,
        max_payload_chars: int = DEFAULT_MAX_PAYLOAD_CHARS,
    ) -> None:
        self.handler = handler
        self.artifacts = ArtifactRecorder(tracer_provider=tracer_provider, max_payload_chars=max_payload_chars)
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.logger_provider = logger_provider
        self._parts = parts
        self._lock = ForkSafeLock()
        self.is_shut_down = False
        self.forget_exit_hook: Callable[[], None] = _nothing  # set by configure(): takes its exit flush back

    def __call__(self, event: object) -> None:
        """Record one ProviderEvent (so the handle itself is a WorldForge ``event_handler``)."""
        self.handler(event)

    @property
    def rerun_sink(self) -> RerunSink | None:
        """The Rerun sink spans go to (ours, or the one attached by ``OTEL_TRACES_EXPORTER=rerun``)."""
        exporter = self._parts.rerun_span_exporter
        return exporter.sink if exporter is not None else None

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
    def spans_dropped(self) -> int:
        """Spans lost before Rerun/OTLP: a full batch queue, or Rerun writes that failed."""
        exporter = self._parts.rerun_span_exporter
        lost_in_queues = sum(processor.dropped for processor in self._parts.span_processors)
        return lost_in_queues + (exporter.spans_dropped if exporter is not None else 0)

    @property
    def spans_exported(self) -> int:
        """Spans written to Rerun so far."""
        exporter = self._parts.rerun_span_exporter
        return exporter.spans_exported if exporter is not None else 0

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Export everything pending now; True when every part flushed in time.

        Returns within ``timeout_millis`` (plus a few ms) whatever a destination does: the parts are flushed in
        order (queued events first, then the Rerun pipelines, then the others) on a helper thread, and one
        still busy at the deadline (a dead collector's retries) is left to finish in the background.
        """
        parts = self._parts
        flushable: list[Any] = [self.handler, *_rerun_first([*parts.span_processors, *parts.metric_readers,
                                                              *parts.log_processors])]  # fmt: skip
        sink = self.rerun_sink

        def flush(remaining: Callable[[], int]) -> bool:
            ok = all([bool(part.force_flush(remaining())) for part in flushable])  # every part: no short-circuit
            if sink is not None:
                ok = sink.flush(remaining() / 1000.0) and ok
            return ok

        return within(timeout_millis, flush, "flush")

    def flush_recordings(self, timeout_millis: int) -> bool:
        """What exit flushes before the recordings close: queued events, then only the Rerun pipelines.

        (The OTLP ones are left to the providers' own shutdown, so a dead collector cannot hold the file.)
        """
        if self.is_shut_down:
            return True  # shutdown() flushed and closed already
        deadline = time.monotonic() + timeout_millis / 1000.0
        ok = self.handler.force_flush(timeout_millis)
        providers = (self.tracer_provider, self.meter_provider, self.logger_provider)
        return flush_feeders(providers, lambda: max(0, int((deadline - time.monotonic()) * 1000))) and ok

    def shutdown(self, timeout_millis: int = DEFAULT_SHUTDOWN_TIMEOUT_MILLIS) -> None:
        """Flush, detach from the host's providers and close what was opened here; idempotent."""
        with self._lock:
            if self.is_shut_down:
                return
            self.is_shut_down = True
        self.forget_exit_hook()  # nothing left for the exit handler to flush here; the handle can be freed
        parts = self._parts
        self.artifacts.enabled = False
        if parts.logging_handler is not None:
            remove_logging_handler(parts.logging_handler)

        def shut_down(remaining: Callable[[], int]) -> bool:
            self.handler.shutdown(remaining())  # queued events become spans before the processors flush
            for part in _rerun_first([*parts.metric_readers, *parts.span_processors, *parts.log_processors]):
                self._shut_down_part(part, remaining())  # the recordings first: nothing else may hold them up
            for provider in parts.owned_providers:
                with _without_sdk_warning(_SHUT_DOWN_TWICE):  # our reader of it was shut down already, above
                    provider.shutdown()
                provider_finished(provider)
            return True

        if not within(timeout_millis, shut_down, "shutdown"):
            _LOG.warning("worldforge_otel: shutdown() did not finish within %.1fs (an exporter is still busy, e.g. "
                         "retrying a collector that is down); it goes on in the background, the Rerun recordings "
                         "were closed first", timeout_millis / 1000)  # fmt: skip

    def _shut_down_part(self, part: Any, timeout_millis: int) -> None:
        parts = self._parts
        if part not in parts.metric_readers:
            part.shutdown()
            return
        provider = self.meter_provider
        if isinstance(provider, SdkMeterProvider) and hasattr(provider, "remove_metric_reader"):  # SDK >= 1.43
            part.force_flush(timeout_millis)  # removal unhooks collection before its final export
            with _without_sdk_warning(_UNHOOKED_COLLECT):
                provider.remove_metric_reader(part)  # and shuts it down: its recording can close now
        else:  # an older SDK: shut down here (a final export), so the recording can close before anything else
            part.shutdown(timeout_millis=timeout_millis)


def _rerun_first(parts: list[Any]) -> list[Any]:
    """``parts`` with those that feed a Rerun exporter first (a local file before a remote destination)."""
    from worldforge_otel.rerun.exporter_core import CoreBackedExporter

    def feeds_rerun(part: Any) -> bool:
        return any(isinstance(node, CoreBackedExporter) for node in attached_objects(part))

    return sorted(parts, key=lambda part: not feeds_rerun(part))


_UNHOOKED_COLLECT = "Cannot call collect on a MetricReader until it is registered"  # after remove_metric_reader
_SHUT_DOWN_TWICE = "Can't shutdown multiple times"  # a reader shut down before its provider


@contextlib.contextmanager
def _without_sdk_warning(prefix: str) -> Iterator[None]:
    """Leave out one expected warning of the SDK's metric export module (what it warns about was handled)."""
    sdk_logger = logging.getLogger("opentelemetry.sdk.metrics._internal.export")

    def keep(record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(prefix)

    sdk_logger.addFilter(keep)
    try:
        yield
    finally:
        sdk_logger.removeFilter(keep)


_STATE_LOCK = ForkSafeLock()
_ACTIVE: tuple[_Arguments, Telemetry] | None = None


def configure(  # one keyword per documented setting
    *,
    rerun: RerunOptions | bool = True,
    service_name: str | None = None,
    otlp_endpoint: str | None = None,
    otlp_protocol: str | None = None,
    log_level: int | str | None = None,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    logger_provider: Any = None,
    metric_export_interval_millis: float | None = None,
    batch: BatchOptions | None = None,
    max_artifact_payload_chars: int = DEFAULT_MAX_PAYLOAD_CHARS,
    set_global_providers: bool = True,
) -> Telemetry:
    """Set up WorldForge -> OpenTelemetry (-> Rerun, -> OTLP) and return the handle.

    Args:
        rerun: ``True`` for Rerun with ``OTEL_EXPORTER_RERUN_*`` settings (default: a ``.rrd`` file),
            :class:`RerunOptions` to choose destinations in code, ``False`` for no Rerun.
        service_name: ``service.name`` of providers created here (``OTEL_SERVICE_NAME`` otherwise).
        otlp_endpoint: Also send everything over OTLP, e.g. ``http://127.0.0.1:4317`` (Jaeger, a collector).
            When omitted and ``configure()`` creates the providers, ``OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT``.
        otlp_protocol: ``grpc`` or ``http/protobuf``; default ``OTEL_EXPORTER_OTLP_PROTOCOL``, else gRPC on
            port 4317 and HTTP elsewhere.
        log_level: Send Python ``logging`` records at this level and above through OTel logs (to Rerun and
            OTLP); lowers the root logger's level to it if needed. ``None`` leaves ``logging`` alone.
        tracer_provider: Provider to attach to; the global one when omitted.
        meter_provider: Provider to attach to; the global one when omitted.
        logger_provider: Provider to attach to; the global one when omitted.
        metric_export_interval_millis: How often metrics are exported (``OTEL_METRIC_EXPORT_INTERVAL``).
        batch: Span batching (``OTEL_BSP_*``).
        max_artifact_payload_chars: Cap on the JSON payload of ``telemetry.artifacts.record_*`` spans.
        set_global_providers: Register providers created here as the OTel globals.

    Returns:
        A :class:`Telemetry` handle; pass it as ``WorldForge(event_handler=...)``.

    Raises:
        AlreadyConfiguredError: a previous handle with different arguments is still active.
    """
    global _ACTIVE  # noqa: PLW0603
    options = RerunOptions() if rerun is True else (rerun or None)
    arguments = _Arguments(
        rerun=options,
        service_name=service_name,
        otlp_endpoint=otlp_endpoint,
        otlp_protocol=otlp_protocol,
        log_level=log_level,
        provider_ids=(_id(tracer_provider), _id(meter_provider), _id(logger_provider)),
        metric_export_interval_millis=metric_export_interval_millis,
        batch=batch or BatchOptions(),
        max_artifact_payload_chars=max_artifact_payload_chars,
        set_global_providers=set_global_providers,
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
        if _env.sdk_disabled():
            _LOG.info("worldforge_otel: OTEL_SDK_DISABLED=true; configure() records nothing")
            telemetry = _disabled()
        else:
            telemetry = _Builder(arguments).build(tracer_provider, meter_provider, logger_provider)
        _ACTIVE = (arguments, telemetry)
        telemetry.forget_exit_hook = flush_before_exit(telemetry.flush_recordings)
        return telemetry


def _nothing() -> None:
    pass


def _id(provider: object) -> int | None:
    return id(provider) if provider is not None else None


def _disabled() -> Telemetry:
    handler = ProviderEventHandler(
        tracer_provider=trace.NoOpTracerProvider(), meter_provider=metrics.NoOpMeterProvider()
    )
    handler.enabled = False
    telemetry = Telemetry(
        handler=handler,
        tracer_provider=trace.NoOpTracerProvider(),
        meter_provider=metrics.NoOpMeterProvider(),
        logger_provider=_logs.NoOpLoggerProvider(),
        parts=_Parts(),
    )
    telemetry.artifacts.enabled = False
    return telemetry


class _Builder:
    """Builds one :class:`Telemetry`: providers first, then exporters attached to them."""

    def __init__(self, arguments: _Arguments) -> None:
        self.arguments = arguments
        name = arguments.service_name
        self.resource = Resource.create({SERVICE_NAME: name} if name else {})
        self.parts = _Parts()

    def build(self, tracer_provider: Any, meter_provider: Any, logger_provider: Any) -> Telemetry:
        arguments = self.arguments
        tracer_provider = self._provider(
            tracer_provider, trace.get_tracer_provider(), SdkTracerProvider, trace.set_tracer_provider
        )
        meter_provider = meter_provider if meter_provider is not None else metrics.get_meter_provider()
        wants_logs = arguments.log_level is not None
        logger_provider = self._provider(
            logger_provider,
            _logs.get_logger_provider(),
            SdkLoggerProvider,
            _logs.set_logger_provider,
            create=wants_logs,
        )
        owns_tracing = any(p is tracer_provider for p in self.parts.owned_providers)
        target = otlp.resolve_target(arguments.otlp_endpoint, arguments.otlp_protocol, use_environment=owns_tracing)
        otlp_exporters = otlp.build_exporters(target) if target is not None else None

        self._attach_spans(tracer_provider, otlp_exporters)
        meter_provider = self._attach_metrics(meter_provider, otlp_exporters)
        self._attach_logs(logger_provider, otlp_exporters)
        if arguments.log_level is not None and isinstance(logger_provider, SdkLoggerProvider):
            self.parts.logging_handler = install_logging_handler(logger_provider, arguments.log_level)
        handler = ProviderEventHandler(tracer_provider=tracer_provider, meter_provider=meter_provider)
        return Telemetry(
            handler=handler,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            logger_provider=logger_provider,
            parts=self.parts,
            max_payload_chars=arguments.max_artifact_payload_chars,
        )

    def _provider(
        self,
        given: Any,
        global_one: Any,
        sdk_type: Callable[..., Any],
        set_global: Callable[[Any], None],
        *,
        create: bool = True,
    ) -> Any:
        provider = given if given is not None else global_one
        if is_placeholder(provider) and create:
            provider = sdk_type(resource=self.resource)
            self.parts.owned_providers.append(provider)
            if self.arguments.set_global_providers:
                set_global(provider)
        return provider

    def _new_exporters(
        self, provider: Any, rerun_type: type, otlp_exporters: dict[str, Any] | None, signal: str
    ) -> list[Any]:
        """Exporters to add for one signal: Rerun unless one is already attached, and OTLP when asked."""
        exporters: list[Any] = []
        if self.arguments.rerun is not None and find_attached(provider, rerun_type) is None:
            exporters.append(rerun_type(options=self.arguments.rerun))
        if otlp_exporters is not None:
            exporters.append(otlp_exporters[signal])
        return exporters

    def _attach_spans(self, provider: Any, otlp_exporters: dict[str, Any] | None) -> None:
        exporters = self._new_exporters(provider, RerunSpanExporter, otlp_exporters, "traces")
        attached = find_attached(provider, RerunSpanExporter)
        if self.arguments.rerun is not None and attached is not None:
            _LOG.info("worldforge_otel: a RerunSpanExporter is already attached (OTEL_TRACES_EXPORTER=rerun?)")
        self.parts.rerun_span_exporter = attached or next(
            (e for e in exporters if isinstance(e, RerunSpanExporter)), None
        )
        if exporters and not isinstance(provider, SdkTracerProvider):
            _cannot_attach(
                "TracerProvider", provider, "tracer_provider=opentelemetry.sdk.trace.TracerProvider(...)", exporters
            )
            self.parts.rerun_span_exporter = None
            return
        for exporter in exporters:
            processor = DetachableSpanProcessor(_batch_span_processor(exporter, self.arguments.batch))
            provider.add_span_processor(processor)
            self.parts.span_processors.append(processor)

    def _attach_metrics(self, provider: Any, otlp_exporters: dict[str, Any] | None) -> Any:
        """Attach metric readers; returns the provider (created here, with the readers, if there was none)."""
        exporters = self._new_exporters(provider, RerunMetricExporter, otlp_exporters, "metrics")
        interval = self.arguments.metric_export_interval_millis

        def readers() -> list[PeriodicExportingMetricReader]:  # built only where they can be registered
            built = [PeriodicExportingMetricReader(exporter, export_interval_millis=interval) for exporter in exporters]
            self.parts.metric_readers.extend(built)
            return built

        if is_placeholder(provider):
            # Readers given at creation are shut down (with a final export) by the provider's own shutdown().
            provider = SdkMeterProvider(resource=self.resource, metric_readers=readers())
            self.parts.owned_providers.append(provider)
            if self.arguments.set_global_providers:
                metrics.set_meter_provider(provider)
        elif not isinstance(provider, SdkMeterProvider):
            _cannot_attach(
                "MeterProvider", provider, "meter_provider=opentelemetry.sdk.metrics.MeterProvider(...)", exporters
            )
        elif exporters and not hasattr(provider, "add_metric_reader"):  # opentelemetry-sdk < 1.43
            _LOG.warning(
                "worldforge_otel: this opentelemetry-sdk cannot add a metric reader to an existing MeterProvider "
                "(needs >= 1.43), so WorldForge metrics are not exported to Rerun/OTLP; upgrade opentelemetry-sdk "
                "or create the MeterProvider with metric_readers=[PeriodicExportingMetricReader(RerunMetricExporter())]"
            )
            for exporter in exporters:
                exporter.shutdown()
        else:
            for reader in readers():
                provider.add_metric_reader(reader)
        return provider

    def _attach_logs(self, provider: Any, otlp_exporters: dict[str, Any] | None) -> None:
        if is_placeholder(provider):
            return  # nobody logs through OTel and log_level was not given: nothing to attach to
        exporters = self._new_exporters(provider, RerunLogExporter, otlp_exporters, "logs")
        if exporters and not isinstance(provider, SdkLoggerProvider):
            _cannot_attach(
                "LoggerProvider", provider, "logger_provider=opentelemetry.sdk._logs.LoggerProvider(...)", exporters
            )
            return
        for exporter in exporters:
            processor = DetachableLogProcessor(BatchLogRecordProcessor(exporter))
            provider.add_log_record_processor(processor)  # type: ignore[arg-type]  # duck-typed processor
            self.parts.log_processors.append(processor)


SDK_BATCH_DEFAULTS = BatchOptions(
    max_queue_size=2048, schedule_delay_millis=5000, max_export_batch_size=512, export_timeout_millis=30_000
)


# Larger batches for Rerun unless OTEL_BSP_* or batch= say otherwise: rerun-sdk keeps ~2.4 KB of native memory
# per chunk it writes (measured; until the recording closes), and a batch writes one chunk per entity path.
RERUN_BATCH_DEFAULTS = {"max_queue_size": ("OTEL_BSP_MAX_QUEUE_SIZE", 16_384),
                        "max_export_batch_size": ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 4_096)}  # fmt: skip


def _batch_span_processor(exporter: Any, batch: BatchOptions) -> BatchSpanProcessor:
    settings = dataclasses.asdict(batch)
    sized_by_user = any(
        settings[name] is not None or os.environ.get(variable, "").strip()
        for name, (variable, _) in RERUN_BATCH_DEFAULTS.items()
    )
    if isinstance(exporter, RerunSpanExporter) and not sized_by_user:
        settings.update({name: default for name, (_, default) in RERUN_BATCH_DEFAULTS.items()})
    try:
        return BatchSpanProcessor(exporter, **settings)
    except ValueError as error:  # e.g. OTEL_BSP_MAX_EXPORT_BATCH_SIZE > OTEL_BSP_MAX_QUEUE_SIZE
        _LOG.error(
            "worldforge_otel: the span batch settings are invalid (%s); fix OTEL_BSP_* or configure(batch=...). "
            "Using the SDK defaults %s.",
            error,
            SDK_BATCH_DEFAULTS,
        )
        return BatchSpanProcessor(exporter, **dataclasses.asdict(SDK_BATCH_DEFAULTS))


def _cannot_attach(kind: str, provider: object, fix: str, unused: list[Any]) -> None:
    """Explain why nothing can be attached to ``provider``, and shut down what was built for it."""
    for item in unused:
        item.shutdown()
    if not unused:
        return
    _LOG.warning(
        "worldforge_otel: the %s %s is not an OpenTelemetry SDK provider, so nothing can be attached to it "
        "(Rerun/OTLP get nothing from it); register an SDK provider or pass %s",
        kind,
        type(provider).__name__,
        fix,
    )
