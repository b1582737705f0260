"""OTLP/HTTP receiver: an ASGI app served by uvicorn on ``/v1/traces``, ``/v1/metrics`` and ``/v1/logs``.

``application/x-protobuf`` and ``application/json`` (OTLP/JSON) bodies, optionally gzip-encoded, are
answered in the same encoding:

| Request | Answer |
|---|---|
| accepted (some items may be rejected) | 200, ``Export*ServiceResponse`` (``partial_success``: what was rejected) |
| body not an OTLP message, truncated JSON, bad gzip | 400 with a ``google.rpc.Status`` |
| other content type | 415 |
| body (or its gzip expansion) over the size limit | 413 |
| queue full | 503 with ``Retry-After`` (OTLP senders retry) |
| other path / method | 404 / 405 |
| ``GET /metrics`` | 200, the receiver's own health in the Prometheus text format (:mod:`.health`) |
"""

from __future__ import annotations

import asyncio
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Final

from google.rpc.status_pb2 import Status

from worldforge_otel.collector.answers import Outcome, bind, handle
from worldforge_otel.collector.decode import to_json
from worldforge_otel.collector.health import prometheus_text
from worldforge_otel.collector.pipeline import Pipeline

PATHS: Final = {"/v1/traces": "traces", "/v1/metrics": "metrics", "/v1/logs": "logs"}
METRICS_PATH: Final = "/metrics"  # the receiver's own health, for Prometheus scrapers
PROMETHEUS: Final = "text/plain; version=0.0.4; charset=utf-8"
PROTOBUF: Final = "application/x-protobuf"
JSON: Final = "application/json"
_INVALID_ARGUMENT, _UNAVAILABLE, _RESOURCE_EXHAUSTED = 3, 14, 8

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class TooLargeError(ValueError):
    """The body is over the size limit."""


DISCARD_FACTOR: Final = 4  # an oversized body is read and dropped up to this many times the limit, then cut
DISCARD_MIN_BYTES: Final = 64 * 1024 * 1024


class OtlpHttpApp:
    """The ASGI application: one OTLP request in, one answer out."""

    def __init__(self, pipeline: Pipeline, *, max_request_bytes: int) -> None:
        self.pipeline = pipeline
        self.max_request_bytes = max_request_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: PLR0911  # one per answer
        """Answer one HTTP request (other ASGI scopes are ignored)."""
        if scope["type"] != "http":
            return
        if scope["path"] == METRICS_PATH and scope["method"] == "GET":
            await _respond(send, 200, prometheus_text(self.pipeline).encode(), PROMETHEUS)
            return
        signal = PATHS.get(scope["path"])
        if signal is None:
            await _plain(send, 404, f"no OTLP endpoint at {scope['path']}; use one of {', '.join(PATHS)}")
            return
        if scope["method"] != "POST":
            await _plain(send, 405, "OTLP/HTTP takes POST", headers=[(b"allow", b"POST")])
            return
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in (PROTOBUF, JSON):
            await _plain(send, 415, f"content-type must be {PROTOBUF} or {JSON}, not {content_type or 'missing'!r}")
            return
        as_json = content_type == JSON
        try:
            body = await self._body(receive, headers)
        except TooLargeError as error:
            # The rest of the body was read and discarded (bounded), so the client, still sending, reads the 413
            # instead of a reset; the connection is closed after it.
            await _status(send, 413, _RESOURCE_EXHAUSTED, str(error), as_json=as_json,
                          headers=[(b"connection", b"close")])  # fmt: skip
            return
        except zlib.error as error:
            await _status(send, 400, _INVALID_ARGUMENT, f"the gzip body cannot be read: {error}", as_json=as_json)
            return
        answer = await asyncio.get_running_loop().run_in_executor(
            None, lambda: handle(self.pipeline, signal, body, json_body=as_json)
        )
        if answer.outcome is Outcome.MALFORMED:
            await _status(send, 400, _INVALID_ARGUMENT, answer.message, as_json=as_json)
        elif answer.outcome is Outcome.BUSY:
            await _status(send, 503, _UNAVAILABLE, answer.message, as_json=as_json, headers=[(b"retry-after", b"1")])
        elif as_json:
            await _respond(send, 200, to_json(answer.response).encode(), JSON)
        else:
            await _respond(send, 200, answer.response.SerializeToString(), PROTOBUF)

    async def _body(self, receive: Receive, headers: dict[str, str]) -> bytes:
        limit = self.max_request_bytes
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _discard(receive, 0, limit)
            raise TooLargeError(f"the body is {declared} bytes; the limit is {limit} (--max-request-mib)")
        chunks, size = [], 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                if message.get("more_body", False):
                    await _discard(receive, size, limit)
                raise TooLargeError(f"the body is over the {limit}-byte limit (--max-request-mib)")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if headers.get("content-encoding", "").strip().lower() == "gzip":
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            body = inflater.decompress(body, limit + 1)
            if len(body) > limit or inflater.unconsumed_tail:
                raise TooLargeError(f"the gzip body expands over the {limit}-byte limit (--max-request-mib)")
        return body


async def _discard(receive: Receive, already: int, limit: int) -> None:
    """Read and drop the rest of a body that is too large, up to :data:`DISCARD_FACTOR` times the limit.

    A client still sending would otherwise see its connection reset instead of the 413; past that bound the
    connection is dropped anyway (a sender that large is not waited for).
    """
    budget = max(limit * DISCARD_FACTOR, DISCARD_MIN_BYTES) - already
    while budget > 0:
        message = await receive()
        if message.get("type") == "http.disconnect":
            return
        budget -= len(message.get("body", b""))
        if not message.get("more_body", False):
            return


async def _respond(send: Send, status: int, body: bytes, content_type: str,
                   headers: list[tuple[bytes, bytes]] | None = None) -> None:  # fmt: skip
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type.encode()), *(headers or [])]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


async def _plain(send: Send, status: int, text: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await _respond(send, status, text.encode(), "text/plain; charset=utf-8", headers)


async def _status(send: Send, status: int, code: int, message: str, *, as_json: bool,
                  headers: list[tuple[bytes, bytes]] | None = None) -> None:  # fmt: skip
    """An OTLP error answer: a ``google.rpc.Status`` in the request's encoding."""
    proto = Status(code=code, message=message)
    if as_json:
        await _respond(send, status, to_json(proto).encode(), JSON, headers)
    else:
        await _respond(send, status, proto.SerializeToString(), PROTOBUF, headers)


@dataclass
class HttpReceiver:
    """A running uvicorn server on its own thread."""

    server: Any
    thread: threading.Thread

    def stop(self, timeout_secs: float = 5.0) -> None:
        """Stop accepting, finish the requests in flight, and return; idempotent."""
        self.server.should_exit = True
        self.thread.join(timeout=timeout_secs)


DEFAULT_MAX_CONNECTIONS: Final = 256
DEFAULT_HEADER_TIMEOUT_SECS: Final = 10.0


def guarded_protocol(max_connections: int, header_timeout_secs: float) -> type[asyncio.Protocol]:
    """The uvicorn HTTP protocol with a cap on open connections and a deadline for each request's headers.

    A connection beyond ``max_connections`` is closed at once; one that has not sent a whole request header
    within ``header_timeout_secs`` of opening (or of its previous answer) is closed. Idle or trickling
    connections therefore cannot use up the process's file descriptors.
    """
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    class GuardedProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
        _refused = False
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            if len(self.connections) >= max_connections:
                self._refused = True
                transport.abort()
                return
            super().connection_made(transport)
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._refused:
                return
            if self._deadline is not None:
                self._deadline.cancel()
            super().connection_lost(exc)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def _arm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            self._deadline = self.loop.call_later(header_timeout_secs, self._expire)

        def _expire(self) -> None:
            waiting = self.cycle is None or self.cycle.response_complete  # no request in progress
            if waiting and self.transport is not None and not self.transport.is_closing():
                self.transport.close()

    return GuardedProtocol


def start_http(
    pipeline: Pipeline,
    address: str,
    *,
    max_request_bytes: int,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    header_timeout_secs: float = DEFAULT_HEADER_TIMEOUT_SECS,
) -> HttpReceiver:
    """Serve OTLP/HTTP on ``address`` (``host:port``) from a uvicorn thread."""
    import uvicorn

    sock = bind(address)
    config = uvicorn.Config(OtlpHttpApp(pipeline, max_request_bytes=max_request_bytes), lifespan="off",
                            log_level="warning", access_log=False, timeout_graceful_shutdown=5,
                            http=guarded_protocol(max_connections, header_timeout_secs))  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="worldforge-otel-http", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    return HttpReceiver(server=server, thread=thread)
