"""Dual export: one WorldForge run, the same trace in Jaeger and in a Rerun recording.

Start Jaeger (it speaks OTLP on 4317/4318, UI on 16686)::

    docker run --rm -p 16686:16686 -p 4317:4317 -p 4318:4318 jaegertracing/all-in-one:latest

then::

    python examples/dual_export_jaeger.py                       # OTLP/gRPC to http://127.0.0.1:4317
    python examples/dual_export_jaeger.py --rerun-spawn         # ...and watch it live in a Rerun viewer

It prints the trace id: paste it into Jaeger's search box (or open the printed URL); in Rerun every
provider event's payload document has the same ``trace_id`` and ``span_id``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import worldforge_otel
from worldforge_otel.cli import add_otlp_argument, add_rerun_arguments, rerun_options
from worldforge_otel.demo import run_demo

SERVICE = "worldforge-dual-export-example"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_rerun_arguments(parser)
    add_otlp_argument(parser, default="http://127.0.0.1:4317")
    parser.add_argument("--jaeger-ui", default="http://localhost:16686", help="where the Jaeger UI is")
    args = parser.parse_args()

    options = rerun_options(args, default_path=Path(".worldforge/rerun/dual-export.rrd"))
    telemetry = worldforge_otel.configure(
        rerun=options if options is not None else False,
        otlp_endpoint=args.otlp_endpoint,
        otlp_protocol=args.otlp_protocol,
        service_name=SERVICE,
        set_global_providers=False,
    )
    tracer = telemetry.tracer_provider.get_tracer("dual_export_example")
    with tracer.start_as_current_span("dual-export example") as root:
        trace_id = f"{root.get_span_context().trace_id:032x}"
        result = run_demo(telemetry, tracer_provider=telemetry.tracer_provider, artifacts=telemetry.artifacts)
    telemetry.shutdown()

    print(f"{result.events} provider events sent to {args.otlp_endpoint} and to Rerun ({result.source})")
    print(f"trace id: {trace_id}")
    print(f"- Jaeger: {args.jaeger_ui}/trace/{trace_id}  (service {SERVICE})")
    if telemetry.recording_path is not None:
        print(f"- Rerun:  rerun {telemetry.recording_path}  (payload documents carry trace_id {trace_id})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
