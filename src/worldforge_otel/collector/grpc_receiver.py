"""OTLP/gRPC receiver (grpcio): the trace, metrics and logs services' ``Export`` methods.

Bodies arrive as raw bytes and are parsed here, so a body that is not protobuf is answered with
INVALID_ARGUMENT (grpcio's own deserializer would answer INTERNAL). A full queue is UNAVAILABLE, which OTLP
senders retry; a message over the size limit is RESOURCE_EXHAUSTED (grpcio enforces it).
"""

from __future__ import annotations

from concurrent import futures
from typing import Any, Final

import grpc

from worldforge_otel.collector.answers import AddressInUseError, Outcome, bind, handle
from worldforge_otel.collector.pipeline import Pipeline

SERVICES: Final = {
    "traces": "opentelemetry.proto.collector.trace.v1.TraceService",
    "metrics": "opentelemetry.proto.collector.metrics.v1.MetricsService",
    "logs": "opentelemetry.proto.collector.logs.v1.LogsService",
}


MAX_IDLE_MS: Final = 300_000
MAX_QUEUED_RPCS: Final = 64


def _export(pipeline: Pipeline, signal: str) -> Any:
    def export(body: bytes, context: grpc.ServicerContext) -> Any:
        answer = handle(pipeline, signal, body)
        if answer.outcome is Outcome.MALFORMED:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, answer.message)
        if answer.outcome is Outcome.BUSY:
            context.abort(grpc.StatusCode.UNAVAILABLE, answer.message)
        return answer.response

    return export


def start_grpc(
    pipeline: Pipeline, address: str, *, max_request_bytes: int, workers: int = 4, handshake_timeout_secs: float = 10.0
) -> grpc.Server:
    """Serve OTLP/gRPC on ``address`` (``host:port``); :class:`AddressInUseError` when it cannot listen.

    A connection must finish its handshake within ``handshake_timeout_secs``, and one idle for
    :data:`MAX_IDLE_MS` is closed (senders reconnect), so idle connections cannot pile up; at most
    ``workers`` requests are decoded at once and :data:`MAX_QUEUED_RPCS` more wait (then RESOURCE_EXHAUSTED).
    """
    bind(address).close()  # our own one-line error for a taken port, before grpcio logs its own
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="worldforge-otel-grpc"),
        options=[("grpc.max_receive_message_length", max_request_bytes), ("grpc.so_reuseport", 0),
                 ("grpc.server_handshake_timeout_ms", int(handshake_timeout_secs * 1000)),
                 ("grpc.max_connection_idle_ms", MAX_IDLE_MS)],
        maximum_concurrent_rpcs=workers + MAX_QUEUED_RPCS,
    )  # fmt: skip
    handlers = [
        grpc.method_handlers_generic_handler(service, {
            "Export": grpc.unary_unary_rpc_method_handler(
                _export(pipeline, signal),
                request_deserializer=lambda body: body,
                response_serializer=lambda response: response.SerializeToString(),
            )
        })
        for signal, service in SERVICES.items()
    ]  # fmt: skip
    server.add_generic_rpc_handlers(handlers)
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as error:  # grpcio >= 1.58 raises; older ones return 0
        raise AddressInUseError(str(error)) from None
    if port == 0:
        raise AddressInUseError(f"cannot listen on {address}")
    server.start()
    return server
