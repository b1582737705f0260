"""Dual export: the same spans in a Rerun recording and, through a real collector (rotel), in a Jaeger-like backend."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from opentelemetry import trace

import worldforge_otel
from conftest import column_values, entity_paths, needs_rerun, read_rrd
from worldforge_otel import RerunOptions
from worldforge_otel.demo import DemoEvent

pytest.importorskip("opentelemetry.exporter.otlp.proto.grpc", reason="needs the otlp extra")
pytestmark = needs_rerun
EXAMPLE = Path(__file__).parent.parent / "examples" / "dual_export_jaeger.py"
_IDS = re.compile(r"trace=([0-9a-f]{32}) span=([0-9a-f]{16})")


def rrd_span_ids(path: Path) -> set[tuple[str, str]]:
    """(trace id, span id) of every span in the recording: event payloads, span log lines, waterfall span trees."""
    ids: set[tuple[str, str]] = set()
    frame = read_rrd(path, index="worldforge_time", contents="/**")
    for entity in entity_paths(frame):
        if entity.startswith("/worldforge/events/") and entity.endswith("/payload"):
            for text in column_values(frame, entity, "TextDocument:text"):
                document = json.loads(text)
                ids.add((document["trace_id"], document["span_id"]))
        elif entity.startswith("/otel/spans/") and entity.endswith("/log"):
            for text in column_values(frame, entity, "TextLog:text"):
                ids.update(_IDS.findall(text))
        elif entity.startswith("/otel/traces/") and entity.endswith("/tree") and "/waterfall/" not in entity:
            trace_id = entity.split("/")[3]
            for text in column_values(frame, entity, "TextDocument:text"):
                ids.update((trace_id, span_id) for span_id in re.findall(r"span ([0-9a-f]{16})", text))
    return ids


def jaeger_span_ids(jaeger, service: str) -> tuple[set[tuple[str, str]], list[dict]]:
    with urllib.request.urlopen(f"{jaeger.url}/api/traces?service={service}", timeout=5) as response:
        data = json.load(response)["data"]
    spans = [span for trace_ in data for span in trace_["spans"]]
    return {(span["traceID"], span["spanID"]) for span in spans}, spans


def run_flow(telemetry) -> None:
    tracer = telemetry.tracer_provider.get_tracer("host-app")
    with tracer.start_as_current_span("world.plan"):
        ctx = trace.get_current_span().get_span_context()
        traceparent = f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-01"
        for phase, attempt in (("retry", 1), ("retry", 2), ("success", 3)):
            telemetry(DemoEvent("remote", "generate", phase, attempt=attempt, max_attempts=3, duration_ms=12.0,
                                metadata={"traceparent": traceparent}))
    telemetry(DemoEvent("mock", "predict", "success", duration_ms=4.0))
    telemetry(DemoEvent("mock", "plan", "failure", duration_ms=2.0, message="no plan"))


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_same_trace_and_span_ids_in_rerun_and_in_the_jaeger_backend(tmp_path, collector, jaeger, clean_env, protocol):
    # gRPC is the default; an HTTP endpoint given as a full signal URL is recognised as OTLP/HTTP.
    endpoint = collector.grpc_endpoint if protocol == "grpc" else f"{collector.http_endpoint}/v1/traces"
    telemetry = worldforge_otel.configure(
        rerun=RerunOptions(save_path=tmp_path / "dual.rrd"), service_name=f"dual-{protocol[:4]}",
        otlp_endpoint=endpoint, set_global_providers=False,
    )
    run_flow(telemetry)
    telemetry.shutdown()
    jaeger.wait_for_spans(6)
    in_jaeger, spans = jaeger_span_ids(jaeger, f"dual-{protocol[:4]}")
    in_rerun = rrd_span_ids(tmp_path / "dual.rrd")
    assert len(in_rerun) == 6  # 5 provider events + their host parent
    assert in_rerun == in_jaeger
    by_name = {span["operationName"]: span for span in spans}
    parent = by_name["world.plan"]
    retries = [s for s in spans if s["operationName"] == "generate remote"]
    assert all(s["references"][0]["spanID"] == parent["spanID"] for s in retries)  # one trace, parent/child
    failure = by_name["plan mock"]
    assert {"key": "error.type", "value": "_OTHER"} in failure["tags"] or any(
        t["key"] == "error.type" for t in failure["tags"])
    assert jaeger.wait_for_metrics() >= 1  # metrics went over OTLP too (forwarded on their own schedule)


def test_otlp_endpoint_from_the_environment_when_configure_creates_the_providers(tmp_path, collector, jaeger,
                                                                                 clean_env):
    clean_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.grpc_endpoint)
    clean_env.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    clean_env.setenv("OTEL_SERVICE_NAME", "dual-env")
    telemetry = worldforge_otel.configure(rerun=RerunOptions(save_path=tmp_path / "env.rrd"),
                                          set_global_providers=False)
    telemetry(DemoEvent("mock", "predict", "success", duration_ms=1.0))
    telemetry.shutdown()
    jaeger.wait_for_spans(1)
    in_jaeger, _ = jaeger_span_ids(jaeger, "dual-env")
    assert in_jaeger and in_jaeger == rrd_span_ids(tmp_path / "env.rrd")


def test_a_bad_otlp_endpoint_is_one_clear_line_and_rerun_keeps_working(tmp_path, clean_env, caplog):
    telemetry = worldforge_otel.configure(rerun=RerunOptions(save_path=tmp_path / "ok.rrd"),
                                          otlp_endpoint="127.0.0.1:4317", set_global_providers=False)
    assert "otlp_endpoint='127.0.0.1:4317' is not an OTLP endpoint URL; use http://HOST:4317" in caplog.text
    telemetry(DemoEvent("mock", "predict", "success"))
    telemetry.shutdown()
    assert telemetry.spans_exported == 1


def test_the_jaeger_example_runs_against_a_real_collector(tmp_path, collector, jaeger, clean_env):
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "--otlp-endpoint", collector.grpc_endpoint,
         "--rerun-output", str(tmp_path / "example.rrd")],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    trace_id = re.search(r"trace id: ([0-9a-f]{32})", result.stdout).group(1)
    spans = jaeger.wait_for_spans(5)
    assert any(span["traceID"] == trace_id for span in spans)
    in_jaeger, _ = jaeger_span_ids(jaeger, "worldforge-dual-export-example")
    assert in_jaeger == rrd_span_ids(tmp_path / "example.rrd")


@pytest.mark.parametrize(("endpoint", "protocol", "env", "expected"), [
    ("http://127.0.0.1:4317", None, None, "grpc"),
    ("http://collector:55680", None, None, "grpc"),
    ("http://127.0.0.1:4318", None, None, "http/protobuf"),
    ("https://otlp.example.com/v1/traces", None, None, "http/protobuf"),
    ("http://127.0.0.1:4317", None, "http/protobuf", "http/protobuf"),
    ("http://127.0.0.1:4318", "grpc", "http/protobuf", "grpc"),
])
def test_otlp_protocol_keyword_beats_environment_beats_the_port_guess(clean_env, endpoint, protocol, env, expected):
    from worldforge_otel.otlp import resolve_target

    if env:
        clean_env.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", env)
    assert resolve_target(endpoint, protocol, use_environment=False).protocol == expected


def test_a_bad_otlp_protocol_is_reported_by_name(clean_env, caplog):
    from worldforge_otel.otlp import resolve_target

    clean_env.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    assert resolve_target("http://h:4317", None, use_environment=False).protocol == "grpc"
    assert "OTEL_EXPORTER_OTLP_PROTOCOL='http/json' is not one of grpc, http/protobuf" in caplog.text


def test_the_pusht_showcase_sends_the_same_trace_to_the_jaeger_backend(tmp_path, collector, jaeger, clean_env):
    pytest.importorskip("gym_pusht", reason="the PushT showcase needs the pusht extra")
    showcase = EXAMPLE.parent / "pusht_showcase.py"
    result = subprocess.run(
        [sys.executable, str(showcase), "--otlp-endpoint", collector.grpc_endpoint, "--steps", "3",
         "--candidates", "4", "--rounds", "1", "--rerun-output", str(tmp_path / "pusht.rrd")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    spans = jaeger.wait_for_spans(1 + 1 + 3 * 6)  # episode, plan; per step: step, round, policy, score, execute, scene
    assert len({span["traceID"] for span in spans}) == 1  # the whole run is one trace
    in_jaeger, _ = jaeger_span_ids(jaeger, "worldforge-pusht-showcase")
    assert len(in_jaeger) == 20
    assert in_jaeger == rrd_span_ids(tmp_path / "pusht.rrd")
