"""``worldforge-otel`` command line.

Usage::

    worldforge-otel demo                       # writes .worldforge/rerun/worldforge-otel-demo.rrd
    worldforge-otel demo --rerun-spawn         # streams to a new Rerun viewer
    worldforge-otel demo --no-rerun            # OpenTelemetry only
    worldforge-otel pusht                      # the PushT showcase -> .worldforge/rerun/worldforge-otel-pusht.rrd
    worldforge-otel receive                    # OTLP on 4317 (gRPC) and 4318 (HTTP) -> a Rerun recording
    worldforge-otel convert traces.json -o out.rrd   # OTLP/JSON files -> a recording
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from worldforge_otel.collector.commands import add_commands as add_collector_commands
from worldforge_otel.configure import Telemetry, configure
from worldforge_otel.demo import run_demo
from worldforge_otel.rerun.options import DEFAULT_DIRECTORY, RerunOptions
from worldforge_otel.version import __version__

DEMO_RECORDING = DEFAULT_DIRECTORY / "worldforge-otel-demo.rrd"
PUSHT_RECORDING = DEFAULT_DIRECTORY / "worldforge-otel-pusht.rrd"


def add_rerun_arguments(parser: argparse.ArgumentParser) -> None:
    """The reference design's Rerun flags, shared by every command that records."""
    group = parser.add_argument_group("Rerun")
    group.add_argument("--rerun-output", type=Path, metavar="PATH", help="write the recording to this .rrd file")
    group.add_argument("--rerun-spawn", action="store_true", help="spawn a Rerun viewer and stream to it")
    group.add_argument("--rerun-connect-url", metavar="URL", help="stream to a viewer, e.g. rerun+http://127.0.0.1:9876/proxy")
    group.add_argument("--rerun-serve-grpc-port", type=int, metavar="N", help="serve the recording over gRPC on port N")
    group.add_argument("--no-rerun", action="store_true", help="OpenTelemetry only; write nothing to Rerun")


def add_otlp_argument(parser: argparse.ArgumentParser, *, default: str | None = None) -> None:
    """``--otlp-endpoint``: send the same spans, metrics and logs to Jaeger or any OTLP collector."""
    parser.add_argument(
        "--otlp-endpoint",
        metavar="URL",
        default=default,
        help="also export over OTLP, e.g. http://127.0.0.1:4317 (gRPC) or http://127.0.0.1:4318 (HTTP)",
    )
    parser.add_argument(
        "--otlp-protocol",
        choices=["grpc", "http/protobuf"],
        help="OTLP protocol (default: OTEL_EXPORTER_OTLP_PROTOCOL, else HTTP for port 4318, gRPC otherwise)",
    )


def rerun_options(args: argparse.Namespace, *, default_path: Path) -> RerunOptions | None:
    """The RerunOptions the flags ask for (``None`` for ``--no-rerun``)."""
    if args.no_rerun:
        return None
    live = args.rerun_spawn or args.rerun_connect_url or args.rerun_serve_grpc_port is not None
    return RerunOptions(
        save_path=args.rerun_output or (None if live else default_path),
        spawn=args.rerun_spawn or None,  # None: OTEL_EXPORTER_RERUN_SPAWN may still ask for it
        connect_url=args.rerun_connect_url,
        serve_grpc_port=args.rerun_serve_grpc_port,
        application_id="worldforge",
    )


def _start(
    args: argparse.Namespace,
    *,
    default_path: Path,
    tracer_provider: Any = None,
    meter_provider: Any = None,
    blueprint: Callable[[], Any] | None = None,
) -> tuple[RerunOptions | None, Telemetry]:
    """``configure()`` as the flags ask; a fresh recording file on every run."""
    options = rerun_options(args, default_path=default_path)
    if options is not None and blueprint is not None:
        options = dataclasses.replace(options, blueprint=blueprint)
    if options is not None and options.save_path is not None:
        with contextlib.suppress(OSError):  # a path that cannot be written is said once by the sink, which falls back
            Path(options.save_path).unlink(missing_ok=True)
    telemetry = configure(
        rerun=options if options is not None else False,
        service_name=args.service_name,
        otlp_endpoint=args.otlp_endpoint,
        otlp_protocol=args.otlp_protocol,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        set_global_providers=False,  # a command owns its providers; nothing global is left behind
    )
    return options, telemetry


def _finish(telemetry: Telemetry) -> None:
    """Keep serving the recording until Ctrl-C when ``--rerun-serve-grpc-port`` asked for it, then shut down."""
    sink = telemetry.rerun_sink
    if sink is not None and sink.server_url is not None:
        print(f"- serving: {sink.server_url} (press Ctrl-C to stop)")
        try:
            while True:
                time.sleep(1.0)
        except KeyboardInterrupt:
            pass
    telemetry.shutdown()


def _destinations(
    telemetry: Telemetry, options: RerunOptions | None, args: argparse.Namespace
) -> list[tuple[str, str]]:
    """Where the data went, as ``(what, where)`` pairs."""
    sink = telemetry.rerun_sink
    pairs: list[tuple[str, str]] = []
    if sink is None:
        pairs.append(("rerun", "disabled (--no-rerun); spans went to the OpenTelemetry providers only"))
    elif sink.save_path is not None:
        pairs.append(("recording", f"{sink.save_path} ({sink.bytes_written} bytes written)"))
        pairs.append(("open it with", f"rerun {sink.save_path}"))
    if sink is not None and sink.connected_to is not None:  # only a destination really set up
        pairs.append(("streamed to", sink.connected_to))
    if args.otlp_endpoint:
        pairs.append(("OTLP", f"the same spans went to {args.otlp_endpoint}"))
    return pairs


def _demo(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    options, telemetry = _start(args, default_path=DEMO_RECORDING)
    result = run_demo(
        telemetry, tracer_provider=telemetry.tracer_provider, artifacts=telemetry.artifacts, built_in=args.built_in
    )
    _finish(telemetry)
    stats = telemetry.stats
    print(
        f"worldforge-otel demo: {result.events} provider events -> {stats.events_handled} spans "
        f"({stats.events_dropped} dropped) in {time.perf_counter() - started:.2f}s; source: {result.source}"
    )
    for what, where in _destinations(telemetry, options, args):
        print(f"- {what}: {where}")
    return 0 if stats.events_dropped == 0 else 1


def run_pusht(args: argparse.Namespace, *, tracer_provider: Any = None, meter_provider: Any = None) -> int:
    """``worldforge-otel pusht``; the providers, when given, are attached to instead of created."""
    try:
        from worldforge_otel.pusht.blueprint import showcase_blueprint
        from worldforge_otel.pusht.report import print_summary, progress
        from worldforge_otel.pusht.run import ShowcaseSettings, run_showcase
        from worldforge_otel.pusht.task import load_gym_pusht, missing_extra

        load_gym_pusht()
    except ImportError as error:
        print(f"worldforge-otel pusht: {error}", file=sys.stderr)
        return 2
    try:
        import rich  # noqa: F401  # the progress bar and the summary
    except ImportError:
        print(f"worldforge-otel pusht: {missing_extra('rich')}", file=sys.stderr)
        return 2
    settings = ShowcaseSettings(steps=args.steps, candidates=args.candidates, horizon=args.horizon, seed=args.seed,
                                rounds=args.rounds, max_actions=args.max_actions)  # fmt: skip
    options, telemetry = _start(
        args,
        default_path=PUSHT_RECORDING,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        blueprint=showcase_blueprint,
    )
    with progress(settings.steps) as on_step:
        run = run_showcase(
            settings,
            telemetry,
            tracer_provider=telemetry.tracer_provider,
            meter_provider=telemetry.meter_provider,
            artifacts=telemetry.artifacts,
            on_step=on_step,
        )
    _finish(telemetry)
    print_summary(run, destinations=_destinations(telemetry, options, args))
    return 0 if telemetry.stats.events_dropped == 0 else 1


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``worldforge-otel`` argument parser."""
    parser = argparse.ArgumentParser(prog="worldforge-otel", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run a WorldForge mock flow and record it to Rerun")
    demo.add_argument("--service-name", default="worldforge-otel-demo", help="OTel service.name")
    demo.add_argument(
        "--built-in", action="store_true", help="run the built-in mock flow even when worldforge-ai is installed"
    )
    add_rerun_arguments(demo)
    add_otlp_argument(demo)
    demo.set_defaults(run=_demo)
    pusht = commands.add_parser("pusht", help="the PushT robotics showcase: plan on real physics, see it in Rerun")
    pusht.add_argument("--service-name", default="worldforge-pusht-showcase", help="OTel service.name")
    from worldforge_otel.pusht.run import ShowcaseSettings  # plain Python: gym-pusht is imported when it runs

    defaults = ShowcaseSettings()
    pusht.add_argument("--steps", type=_positive, default=defaults.steps,
                       help=f"planning steps at most; the run stops at success (default: {defaults.steps})")
    pusht.add_argument("--rounds", type=_positive, default=defaults.rounds,
                       help=f"search rounds per planning step (default: {defaults.rounds})")
    pusht.add_argument("--candidates", type=_positive, default=defaults.candidates,
                       help=f"candidate chunks per search round (default: {defaults.candidates})")
    pusht.add_argument("--horizon", type=_positive, default=defaults.horizon,
                       help=f"actions per chunk at least, 0.1 s each (default: {defaults.horizon})")
    pusht.add_argument("--max-actions", type=_positive, default=defaults.max_actions,
                       help=f"actions at most, as gym-pusht's episode (default: {defaults.max_actions})")
    pusht.add_argument("--seed", type=int, default=0, help="seed of the start pose and the policy (default: 0)")
    add_rerun_arguments(pusht)
    add_otlp_argument(pusht)
    pusht.set_defaults(run=run_pusht)
    add_collector_commands(commands, add_rerun_arguments)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``worldforge-otel`` command; returns the exit code."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")  # messages name their source
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
