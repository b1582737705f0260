"""``worldforge-otel receive`` and ``worldforge-otel convert``: start, wait for SIGINT/SIGTERM, flush, report."""

from __future__ import annotations

import argparse
import dataclasses
import gc
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any, Final

from worldforge_otel.collector.recordings import DEFAULT_MAX_RECORDINGS, OVERFLOW_STEM
from worldforge_otel.rerun.options import DEFAULT_DIRECTORY, RerunOptions

RECEIVE_RECORDING: Final = DEFAULT_DIRECTORY / "worldforge-otel-receive.rrd"
RECEIVE_DIRECTORY: Final = DEFAULT_DIRECTORY / "received"
_EXTRA: Final = "pip install 'worldforge-otel[collector]'"


def _missing_extra() -> str | None:
    try:
        import google.rpc.status_pb2  # noqa: F401
        import grpc  # noqa: F401
        import opentelemetry.proto  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as error:
        return f"collector mode needs {error.name or 'its extra'} ({_EXTRA})"
    return None


def _options(args: argparse.Namespace, *, default_file: Path) -> RerunOptions:
    from worldforge_otel.cli import rerun_options

    options = rerun_options(args, default_path=RECEIVE_DIRECTORY if args.split_by_service else default_file)
    assert options is not None  # --no-rerun is refused before
    options = _with_ids(options, args)
    if args.split_by_service and options.save_path is not None:
        Path(options.save_path).mkdir(parents=True, exist_ok=True)  # a directory of <service>.rrd files
    return options


def _with_ids(options: RerunOptions, args: argparse.Namespace) -> RerunOptions:
    """``--application-id`` and ``--recording-id``: shards written with one pair open as one recording."""
    return dataclasses.replace(
        options,
        application_id=args.application_id or options.application_id,
        recording_id=args.recording_id or options.recording_id,
    )


def _recordings(pipeline: Any) -> list[str]:
    lines = []
    for name, sink in pipeline.destinations():
        where = f"{sink.save_path} ({sink.bytes_written} bytes written)" if sink.save_path else "live"
        ids = f"application id {printable(sink.options.application_id)}, recording id {printable(sink.recording_id)}"
        lines.append(f"- recording{f' {printable(name)}' if name else ''}: {where}; {ids}")
    overflowed = pipeline.recordings.overflowed_services
    if overflowed:
        lines.append(f"- {overflowed} services beyond --max-recordings {pipeline.recordings.max_recordings} "
                     f"shared {OVERFLOW_STEM}.rrd")  # fmt: skip
    return lines


def printable(text: object, *, max_chars: int = 120) -> str:
    """``text`` safe to print: control characters and terminal escapes shown escaped, long text cut."""
    shown = "".join(char if char.isprintable() else repr(char)[1:-1] for char in str(text)[:max_chars])
    return shown + ("…" if len(str(text)) > max_chars else "")


def _problem(args: argparse.Namespace) -> str | None:
    problem = _missing_extra()
    if problem is None and args.no_rerun:
        problem = "--no-rerun leaves nothing to do: receive writes to Rerun (choose --rerun-output/--rerun-spawn/...)"
    if problem is None and args.otlp_grpc == "off" and args.otlp_http == "off":
        problem = "both receivers are off; keep --otlp-grpc HOST:PORT or --otlp-http HOST:PORT"
    return problem


def _start_receivers(args: argparse.Namespace, pipeline: Any) -> tuple[Any, Any]:
    """The gRPC and HTTP receivers the flags ask for; AddressInUseError names the flag to change."""
    from worldforge_otel.collector.answers import AddressInUseError
    from worldforge_otel.collector.grpc_receiver import start_grpc
    from worldforge_otel.collector.http_receiver import start_http

    limit = int(args.max_request_mib * 1024 * 1024)
    grpc_server = None
    try:
        if args.otlp_grpc != "off":
            grpc_server = start_grpc(pipeline, args.otlp_grpc, max_request_bytes=limit,
                                     handshake_timeout_secs=args.header_timeout)  # fmt: skip
    except AddressInUseError as error:
        raise AddressInUseError(f"OTLP/gRPC {error}; choose another with --otlp-grpc HOST:PORT (or off)") from None
    try:
        http_server = None
        if args.otlp_http != "off":
            http_server = start_http(pipeline, args.otlp_http, max_request_bytes=limit,
                                     max_connections=args.max_connections,
                                     header_timeout_secs=args.header_timeout)  # fmt: skip
    except AddressInUseError as error:
        if grpc_server is not None:
            grpc_server.stop(grace=None)
        raise AddressInUseError(f"OTLP/HTTP {error}; choose another with --otlp-http HOST:PORT (or off)") from None
    return grpc_server, http_server


def _stop_on_signals() -> threading.Event:
    """An event SIGINT and SIGTERM set (installed before the receivers start, so none is missed)."""
    stop = threading.Event()

    def on_signal(number: int, frame: FrameType | None) -> None:
        stop.set()

    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, on_signal)
    return stop


def run_receive(args: argparse.Namespace) -> int:
    """Receive OTLP until SIGINT/SIGTERM, then drain the queue, close the recordings and report."""
    problem = _problem(args)
    if problem is not None:
        print(f"worldforge-otel receive: {problem}", file=sys.stderr)
        return 2
    from worldforge_otel.collector.answers import AddressInUseError
    from worldforge_otel.collector.pipeline import Pipeline

    stop = _stop_on_signals()
    options = _options(args, default_file=RECEIVE_RECORDING)
    if options.save_path is not None and not args.split_by_service:
        Path(options.save_path).unlink(missing_ok=True)
    pipeline = Pipeline(options, split_by_service=args.split_by_service, max_batches=args.queue_size,
                        max_queued_bytes=int(args.queue_mib * 1024 * 1024),
                        max_recordings=args.max_recordings, max_queued_items=args.queue_items)  # fmt: skip
    pipeline.open_recording()
    health = _start_health(args, pipeline)
    try:
        grpc_server, http_server = _start_receivers(args, pipeline)
    except AddressInUseError as error:
        print(f"worldforge-otel receive: {error}", file=sys.stderr)
        pipeline.shutdown(timeout_secs=1.0, before_close=lambda: health.shutdown(timeout_millis=1000))
        return 2
    if grpc_server is not None:
        print(f"- OTLP/gRPC: {args.otlp_grpc}", flush=True)
    if http_server is not None:
        print(f"- OTLP/HTTP: http://{args.otlp_http}/v1/{{traces,metrics,logs}} (protobuf or JSON)", flush=True)
    destination = options.save_path or options.connect_url or ("spawned viewer" if options.spawn else "grpc server")
    print(f"- writing to: {destination}{' (one .rrd per service.name)' if args.split_by_service else ''}", flush=True)
    # What startup allocated (modules, rerun-sdk, grpc, uvicorn) lives until exit: the collector need not
    # traverse it again and again while requests come and go (measured: about 15% more spans/s).
    gc.collect()
    gc.freeze()
    print("- ready (Ctrl-C or SIGTERM flushes and stops)", flush=True)
    while not stop.wait(0.2):  # a timed wait, so the main thread runs the signal handlers promptly
        pass
    if grpc_server is not None:
        grpc_server.stop(grace=5).wait(6)  # finishes the requests in flight
    if http_server is not None:
        http_server.stop()
    # The health's last numbers go into the recording too; a dead OTLP endpoint may hold them 2 s at most.
    pipeline.shutdown(timeout_secs=args.shutdown_timeout, before_close=lambda: health.shutdown(timeout_millis=2000))
    _report(pipeline)
    return 0


def _start_health(args: argparse.Namespace, pipeline: Any) -> Any:
    """The receiver's own metrics: into its recording, and over OTLP with ``--metrics-otlp-endpoint``."""
    from worldforge_otel.collector.health import start_health
    from worldforge_otel.otlp import build_exporters, resolve_target

    otlp = None
    if args.metrics_otlp_endpoint:
        target = resolve_target(args.metrics_otlp_endpoint, None, use_environment=False)
        exporters = build_exporters(target) if target is not None else None
        otlp = exporters["metrics"] if exporters else None
    return start_health(pipeline, sink=pipeline.recordings.health_sink(), otlp_exporter=otlp)


def _report(pipeline: Any) -> None:
    for name in ("traces", "metrics", "logs"):
        received, rejected, malformed = pipeline.received[name], pipeline.rejected[name], pipeline.malformed[name]
        if received or pipeline.refused[name] or rejected or malformed:
            print(f"- {name}: {received} received, {pipeline.written[name]} written, "
                  f"{pipeline.failed[name]} failed, {pipeline.refused[name]} refused (queue full), "
                  f"{rejected} rejected (invalid items), {malformed} malformed requests")  # fmt: skip
    for line in _recordings(pipeline):
        print(line)


def run_convert(args: argparse.Namespace) -> int:
    """Convert OTLP/JSON files (the Collector file exporter's format) into a recording."""
    problem = _missing_extra()
    missing = [str(path) for path in args.files if not path.is_file()]
    if problem is None and missing:
        problem = f"no such file: {', '.join(missing)}"
    if problem is not None:
        print(f"worldforge-otel convert: {problem}", file=sys.stderr)
        return 2
    from worldforge_otel.collector.files import convert_files
    from worldforge_otel.collector.pipeline import Pipeline

    output = args.output or (Path("converted") if args.split_by_service else args.files[0].with_suffix(".rrd"))
    if args.split_by_service:
        output.mkdir(parents=True, exist_ok=True)
    else:
        output.unlink(missing_ok=True)
    options = _with_ids(RerunOptions(save_path=output, application_id="worldforge"), args)
    pipeline = Pipeline(options, split_by_service=args.split_by_service)
    report = convert_files(list(args.files), pipeline)
    pipeline.shutdown()
    requests = ", ".join(f"{count} {name}" for name, count in report.requests.items())
    print(f"worldforge-otel convert: {requests} requests read; {report.rejected_items} items rejected; "
          f"{len(report.bad_lines)} lines skipped")  # fmt: skip
    for file in report.files:
        if file.first_problem or not file.items:
            problem = printable(file.first_problem or "no items", max_chars=500)
            print(f"- {printable(file.path)}: {file.items} items read, {file.rejected} rejected, "
                  f"{file.skipped_lines} lines skipped; first problem: {problem}")
    _report(pipeline)
    return 0 if report.items else 1  # nothing read (every item rejected, or no OTLP at all) is a failure


def _address(text: str) -> str:
    """``HOST:PORT`` or ``off`` (an argparse type)."""
    host, _, port = text.rpartition(":")
    if text == "off" or (host and port.isdigit() and int(port) <= 65535):
        return text
    raise argparse.ArgumentTypeError(f"expected HOST:PORT (e.g. 127.0.0.1:4317) or off, got {text!r}")


def add_commands(commands: Any, add_rerun_arguments: Any) -> None:
    """The ``receive`` and ``convert`` subcommands."""
    receive = commands.add_parser("receive", help="receive OTLP (gRPC, HTTP) from any sender into a Rerun recording")
    receive.add_argument("--otlp-grpc", default="127.0.0.1:4317", metavar="HOST:PORT", type=_address,
                         help="OTLP/gRPC address (default 127.0.0.1:4317; 'off' to disable)")
    receive.add_argument("--otlp-http", default="127.0.0.1:4318", metavar="HOST:PORT", type=_address,
                         help="OTLP/HTTP address for /v1/{traces,metrics,logs} (default 127.0.0.1:4318; 'off')")
    receive.add_argument("--split-by-service", action="store_true",
                         help="one recording per service.name (--rerun-output is then a directory)")
    receive.add_argument("--max-recordings", type=int, default=DEFAULT_MAX_RECORDINGS, metavar="N",
                         help=f"with --split-by-service, services with a file of their own (default "
                              f"{DEFAULT_MAX_RECORDINGS}); further ones share {OVERFLOW_STEM}.rrd")  # fmt: skip
    receive.add_argument("--max-connections", type=int, default=256, metavar="N",
                         help="open OTLP/HTTP connections at most; more are closed at once (default 256)")  # fmt: skip
    receive.add_argument("--header-timeout", type=float, default=10.0, metavar="SECS",
                         help="close a connection that has not sent a whole request header (HTTP) or finished its "
                              "handshake (gRPC) within SECS (default 10)")  # fmt: skip
    receive.add_argument("--max-request-mib", type=float, default=16.0, help="largest request body (default 16)")
    receive.add_argument("--queue-size", type=int, default=1024,
                         help="requests queued for writing before senders are told to retry (default 1024)")
    receive.add_argument("--queue-mib", type=float, default=64.0,
                         help="request bytes queued for writing before senders are told to retry (default 64)")
    receive.add_argument("--queue-items", type=int, default=200_000,
                         help="decoded spans, points and log records queued for writing at most, the memory "
                              "bound (~1.2 kB per span; default 200000)")  # fmt: skip
    receive.add_argument("--metrics-otlp-endpoint", metavar="URL",
                         help="also send the receiver's own health metrics over OTLP: gRPC, or HTTP for port 4318 "
                              "or a URL ending in /v1/metrics (they are always in the recording and on GET "
                              "/metrics of the OTLP/HTTP port)")  # fmt: skip
    receive.add_argument("--shutdown-timeout", type=float, default=10.0, help="seconds to flush on exit")
    add_recording_arguments(receive)
    add_rerun_arguments(receive)
    receive.set_defaults(run=run_receive)
    convert = commands.add_parser("convert", help="convert OTLP/JSON files (Collector file exporter) to a recording")
    convert.add_argument("files", nargs="+", type=Path, help="OTLP/JSON files, one request per line")
    convert.add_argument("-o", "--output", type=Path, help="the .rrd to write (a directory with --split-by-service)")
    convert.add_argument("--split-by-service", action="store_true", help="one recording per service.name")
    add_recording_arguments(convert)
    convert.set_defaults(run=run_convert)


def add_recording_arguments(parser: argparse.ArgumentParser) -> None:
    """``--recording-id`` and ``--application-id``: several receivers (or files) writing shards of one recording."""
    parser.add_argument("--recording-id", metavar="ID",
                        help="the Rerun recording id (default: OTEL_EXPORTER_RERUN_RECORDING_ID, else random); "
                             "receivers given the same one write shards the viewer opens as one recording")  # fmt: skip
    parser.add_argument("--application-id", metavar="NAME",
                        help="the Rerun application id (default: worldforge); shards must share it too")  # fmt: skip
