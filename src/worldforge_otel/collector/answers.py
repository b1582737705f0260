"""One OTLP request in, one answer out: what the gRPC and HTTP receivers share.

:func:`handle` parses the body (protobuf or OTLP/JSON), decodes it, queues it and returns an :class:`Answer`:
accepted (with ``partial_success`` when some items were rejected), malformed, or "retry later" when the
queue is full. The receivers only map an Answer onto their protocol's status codes.
"""

from __future__ import annotations

import enum
import logging
import socket
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from worldforge_otel._throttled_log import ThrottledLog
from worldforge_otel.collector.decode import SIGNALS, Decoded, MalformedRequestError, parse_json, parse_protobuf
from worldforge_otel.collector.pipeline import Pipeline

_ERRORS = ThrottledLog(logging.getLogger("worldforge_otel.collector"))
_RESPONSES: dict[str, type[Any]] = {
    "traces": ExportTraceServiceResponse,
    "metrics": ExportMetricsServiceResponse,
    "logs": ExportLogsServiceResponse,
}


class AddressInUseError(OSError):
    """A receiver cannot listen on its address (taken, or not an address of this machine)."""


class Outcome(enum.Enum):
    """How a request ended."""

    ACCEPTED = "accepted"  # all or part of it (see Answer.rejected)
    MALFORMED = "malformed"  # not an OTLP request of that signal: do not retry
    BUSY = "busy"  # the queue is full: retry later


@dataclass(frozen=True, slots=True)
class Answer:
    """What to answer one request with."""

    outcome: Outcome
    response: Any = None  # the Export*ServiceResponse (ACCEPTED only)
    rejected: int = 0
    message: str = ""


def handle(pipeline: Pipeline, signal: str, body: bytes, *, json_body: bool = False) -> Answer:
    """Parse, decode and queue one request of ``signal`` (``traces``, ``metrics`` or ``logs``)."""
    try:
        decoded = decode_request(signal, body, json_body=json_body)
    except MalformedRequestError as error:
        pipeline.malformed[signal] += 1
        return Answer(Outcome.MALFORMED, message=str(error))
    except Exception as error:  # an input the decoder did not foresee: the sender hears 400, never a 500
        _ERRORS.error("worldforge_otel: could not decode an OTLP %s request; answered 400", signal)
        pipeline.malformed[signal] += 1
        return Answer(Outcome.MALFORMED, message=f"the request could not be decoded ({type(error).__name__})")
    if not pipeline.submit(signal, decoded.by_service, size_bytes=len(body)):
        return Answer(Outcome.BUSY, message="the receiver's queue is full; retry later")
    pipeline.rejected[signal] += decoded.rejected
    response = _RESPONSES[signal]()
    if decoded.rejected:
        setattr(response.partial_success, f"rejected_{SIGNALS[signal][2]}", decoded.rejected)
        response.partial_success.error_message = decoded.reason
    return Answer(Outcome.ACCEPTED, response=response, rejected=decoded.rejected, message=decoded.reason)


def decode_request(signal: str, body: bytes, *, json_body: bool = False) -> Decoded[Any]:
    """The items of one request body of ``signal``; :class:`MalformedRequestError` when it is not one."""
    request_type, decode, _ = SIGNALS[signal]
    request = parse_json(body, request_type) if json_body else parse_protobuf(body, request_type)
    return decode(request)  # type: ignore[no-any-return]


def bind(address: str) -> socket.socket:
    """A listening TCP socket on ``host:port``; :class:`AddressInUseError` when it cannot be had."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"  # an empty host means every interface, as for gRPC
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port in TIME_WAIT, not one in use
        sock.bind((host, int(port)))
        sock.listen(128)
    except (OSError, ValueError) as error:
        sock.close()
        raise AddressInUseError(f"cannot listen on {address}: {getattr(error, 'strerror', None) or error}") from None
    return sock
