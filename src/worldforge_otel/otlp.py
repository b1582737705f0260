"""OTLP exporters next to Rerun: the same spans, metrics and logs to Jaeger or any OpenTelemetry collector.

``configure(otlp_endpoint=...)`` sends OTLP/gRPC (the Python distro's default), except to port 4318 or a URL
with a ``/v1/...`` path, which get OTLP/HTTP; ``otlp_protocol`` or ``OTEL_EXPORTER_OTLP_PROTOCOL`` decide
otherwise. The exporters come from ``opentelemetry-exporter-otlp``
(``pip install 'worldforge-otel[otlp]'``); they also honour ``OTEL_EXPORTER_OTLP_HEADERS``, ``..._TIMEOUT`` etc.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from worldforge_otel import _env
from worldforge_otel.boundary import SanitizingLogExporter, SanitizingMetricExporter, SanitizingSpanExporter

_LOG = logging.getLogger(__name__)

GRPC: Final = "grpc"
HTTP_PROTOBUF: Final = "http/protobuf"
PROTOCOLS: Final = (GRPC, HTTP_PROTOBUF)
HTTP_PORT: Final = 4318
_ENDPOINT_VARIABLES: Final = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
_PROTOCOL_VARIABLES: Final = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
_HTTP_PATHS: Final = {"traces": "/v1/traces", "metrics": "/v1/metrics", "logs": "/v1/logs"}
_INSTALL_HINT: Final = "install it with: pip install 'worldforge-otel[otlp]'"


@dataclass(frozen=True, slots=True)
class OtlpTarget:
    """Where OTLP goes. ``endpoint`` is None when the exporters read it from ``OTEL_EXPORTER_OTLP_*`` themselves."""

    endpoint: str | None
    protocol: str


def resolve_target(endpoint: str | None, protocol: str | None, *, use_environment: bool) -> OtlpTarget | None:
    """The OTLP target asked for by keyword, else (when ``use_environment``) by ``OTEL_EXPORTER_OTLP_*``."""
    setting = "otlp_endpoint"
    from_environment = False
    if endpoint is None and use_environment:
        for variable in _ENDPOINT_VARIABLES:
            if os.environ.get(variable, "").strip():
                setting, endpoint, from_environment = variable, os.environ[variable].strip(), True
                break
    if endpoint is None:
        return None
    try:
        port, path = _check_url(endpoint)
    except _env.BadValueError as error:
        _env.report_bad_value(setting, endpoint, str(error), "nothing is sent over OTLP")
        return None
    chosen = _protocol(protocol, guess=HTTP_PROTOBUF if port == HTTP_PORT or path.startswith("/v1/") else GRPC)
    return OtlpTarget(None if from_environment else endpoint, chosen)


def build_exporters(target: OtlpTarget) -> dict[str, Any] | None:
    """OTLP span, metric and log exporters for ``target`` (keys ``traces``, ``metrics``, ``logs``).

    Each is wrapped by the trust boundary (:mod:`worldforge_otel.boundary`): what leaves over OTLP is sanitized
    on the export thread, as what goes to Rerun is.
    """
    try:
        if target.protocol == GRPC:
            from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        else:
            from opentelemetry.exporter.otlp.proto.http._log_exporter import (  # type: ignore[assignment]
                OTLPLogExporter,
            )
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import (  # type: ignore[assignment]
                OTLPMetricExporter,
            )
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[assignment]
                OTLPSpanExporter,
            )
    except ImportError as error:
        _LOG.error("worldforge_otel: OTLP %s export is not installed (%s); %s", target.protocol, error, _INSTALL_HINT)
        return None
    classes = {"traces": OTLPSpanExporter, "metrics": OTLPMetricExporter, "logs": OTLPLogExporter}
    exporters: dict[str, Any] = {}
    for signal, exporter_class in classes.items():
        if target.endpoint is None:
            exporters[signal] = exporter_class()
        elif target.protocol == GRPC:
            exporters[signal] = exporter_class(endpoint=target.endpoint)
        elif "/v1/" in target.endpoint:  # a full signal URL was given: use it for traces, its base for the rest
            base = target.endpoint.split("/v1/", 1)[0]
            exporters[signal] = exporter_class(endpoint=base + _HTTP_PATHS[signal])
        else:
            exporters[signal] = exporter_class(endpoint=target.endpoint.rstrip("/") + _HTTP_PATHS[signal])
    return {
        "traces": SanitizingSpanExporter(exporters["traces"]),
        "metrics": SanitizingMetricExporter(exporters["metrics"]),
        "logs": SanitizingLogExporter(exporters["logs"]),
    }


def _check_url(endpoint: str) -> tuple[int | None, str]:
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise _env.BadValueError("is not an OTLP endpoint URL; use http://HOST:4317 (gRPC) or http://HOST:4318 (HTTP)")
    return port, parts.path


def _protocol(protocol: str | None, *, guess: str) -> str:
    if protocol is not None:
        try:
            return _parse_protocol(protocol)
        except _env.BadValueError as error:
            _env.report_bad_value("otlp_protocol", protocol, str(error), f"using {guess}")
            return guess
    for variable in _PROTOCOL_VARIABLES:
        value = _env.read(variable, _parse_protocol, consequence=f"using {guess}")
        if value is not None:
            return value
    return guess


def _parse_protocol(text: str) -> str:
    if text not in PROTOCOLS:
        raise _env.BadValueError(f"is not one of {', '.join(PROTOCOLS)} (http/json is not supported by Python)")
    return text
