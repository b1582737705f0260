"""Worlds, plans, benchmarks, doctor reports and images: through OTel spans into the reference Rerun layout."""

from __future__ import annotations

import inspect
import json
import struct
import zlib

import pytest

import worldforge_otel
from conftest import (
    assert_not_recorded,
    bar_charts,
    column_cells,
    column_values,
    entity_paths,
    needs_rerun,
    read_rrd,
    read_rrd_arrow,
    recording_ids,
)
from worldforge_otel import RerunOptions
from worldforge_otel.demo import DemoEvent
from worldforge_otel.instrumentation.artifacts import payload_json

pytestmark = needs_rerun

WORLD = {
    "schema_version": 1, "id": "world_lab1", "name": "lab", "provider": "mock", "step": 3,
    "scene": {"objects": {
        "obj_1": {"id": "obj_1", "name": "cube", "pose": {"position": {"x": 0.3, "y": 0.5, "z": 0.0}},
                  "bbox": {"min": {"x": 0.2, "y": 0.4, "z": 0.0}, "max": {"x": 0.4, "y": 0.6, "z": 0.2}}},
        "obj_2": {"id": "obj_2", "name": "mug", "pose": {"position": {"x": -0.1, "y": 0.25, "z": 0.05}},
                  "bbox": {"min": {"x": -0.15, "y": 0.2, "z": 0.0}, "max": {"x": -0.05, "y": 0.3, "z": 0.1}}},
    }},
    "metadata": {"api_key": "sk-world-secret-123456"},
    "history": [{"step": 0, "state": {"big": "x" * 1000}}],
}
PLAN = {
    "goal": "move the cube to the left", "planner": "cem", "provider": "mock",
    "actions": [{"type": "move_to", "parameters": {"target": {"x": 0.6, "y": 0.5, "z": 0.0}}},
                {"type": "move_to", "parameters": {"target": {"x": 0.7, "y": 0.4, "z": 0.0}}},
                {"type": "grip", "parameters": {}},
                {"type": "move_to", "parameters": {"target": [0.8, 0.3, 0.1]}}],
    "success_probability": 0.75,
}
BENCHMARK = {"results": [
    {"provider": "mock", "operation": "predict", "iterations": 3, "success_count": 3, "error_count": 0,
     "min_latency_ms": 0.81, "p50_latency_ms": 0.93, "average_latency_ms": 0.97, "p95_latency_ms": 1.19,
     "max_latency_ms": 1.24, "throughput_per_second": 806.9},
    {"provider": "mock", "operation": "generate", "iterations": 3, "success_count": 2, "error_count": 1,
     "average_latency_ms": 4.5, "p95_latency_ms": 6.25, "throughput_per_second": 120.0},
]}
DOCTOR = {"world_count": 0, "provider_count": 8, "providers": [{"name": "cosmos", "token": "secret-token-value"}]}


def flat(points) -> list[float]:
    return [float(c) for point in points for c in point]


def png(width=2, height=2) -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.fixture
def recorded(tmp_path, providers):
    """A run with every artifact kind, exported to Rerun and to the InMemorySpanExporter."""
    path = tmp_path / "artifacts.rrd"
    telemetry = worldforge_otel.configure(rerun=RerunOptions(save_path=path), tracer_provider=providers.tracer_provider,
                                          meter_provider=providers.meter_provider, set_global_providers=False)
    tracer = providers.tracer_provider.get_tracer("host")
    with tracer.start_as_current_span("world.plan"):
        telemetry(DemoEvent("mock", "plan", "success", duration_ms=2.0))
        telemetry.artifacts.record_world(WORLD)
        telemetry.artifacts.record_plan(PLAN)
        telemetry.artifacts.record_plan({**PLAN, "actions": PLAN["actions"][:1]}, provider="remote", planner="mpc")
        telemetry.artifacts.record_benchmark(BENCHMARK)
        telemetry.artifacts.record_doctor(DOCTOR)
        telemetry.artifacts.record_image("camera", png())
    telemetry.shutdown()
    return path, providers.spans.get_finished_spans(), telemetry


def test_world_objects_and_boxes_match_the_world(recorded):
    path, _, _ = recorded
    frame = read_rrd(path, index="worldforge_step", contents="/worldforge/worlds/**")
    base = "/worldforge/worlds/world_lab1"
    assert frame["worldforge_step"].tolist() == [3]
    (positions,) = column_cells(frame, f"{base}/objects", "Points3D:positions")
    assert flat(positions) == pytest.approx([0.3, 0.5, 0.0, -0.1, 0.25, 0.05])
    assert column_cells(frame, f"{base}/objects", "Points3D:labels") == [["cube", "mug"]]
    (half_sizes,) = column_cells(frame, f"{base}/object_boxes", "Boxes3D:half_sizes")
    assert flat(half_sizes) == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.05])
    (centers,) = column_cells(frame, f"{base}/object_boxes", "Boxes3D:centers")
    assert flat(centers) == pytest.approx([0.3, 0.5, 0.1, -0.1, 0.25, 0.05])
    (state,) = column_values(frame, f"{base}/state", "TextDocument:text")
    document = json.loads(state)
    assert document["id"] == "world_lab1" and "history" not in document and document["history_length"] == 1
    assert document["metadata"]["api_key"] == "[REDACTED]"


def test_a_box_left_behind_by_its_moved_object_is_drawn_with_it_and_says_so(tmp_path):
    moved = json.loads(json.dumps(WORLD))
    moved["scene"]["objects"]["obj_1"]["pose"]["position"] = {"x": 0.9, "y": 0.5, "z": 0.0}  # bbox stayed at 0.3
    path = tmp_path / "moved.rrd"
    telemetry = worldforge_otel.configure(rerun=RerunOptions(save_path=path), set_global_providers=False)
    telemetry.artifacts.record_world(moved)
    telemetry.shutdown()
    frame = read_rrd(path, index="worldforge_step", contents="/worldforge/worlds/**")
    base = "/worldforge/worlds/world_lab1"
    (centers,) = column_cells(frame, f"{base}/object_boxes", "Boxes3D:centers")
    (half_sizes,) = column_cells(frame, f"{base}/object_boxes", "Boxes3D:half_sizes")
    assert flat(centers) == pytest.approx([0.9, 0.5, 0.0, -0.1, 0.25, 0.05])  # on the cube; the mug's stays
    assert flat(half_sizes) == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.05])  # sizes kept
    assert column_cells(frame, f"{base}/objects", "Points3D:labels") == [["cube (bbox moved to it)", "mug"]]
    assert column_cells(frame, f"{base}/object_boxes", "Boxes3D:labels") == [["", "mug"]]  # one label per place


def test_plan_targets_are_the_action_targets_in_order(recorded):
    path, _, _ = recorded
    frame = read_rrd(path, index="worldforge_plan", contents="/worldforge/plans/**")
    assert sorted(frame["worldforge_plan"].tolist()) == [0, 1]
    (targets,) = column_cells(frame, "/worldforge/plans/mock/cem/0/action_targets", "Points3D:positions")
    assert flat(targets) == pytest.approx([0.6, 0.5, 0.0, 0.7, 0.4, 0.0, 0.8, 0.3, 0.1])
    (strip,) = column_cells(frame, "/worldforge/plans/mock/cem/0/action_path", "LineStrips3D:strips")
    assert flat([list(point) for point in strip[0]]) == pytest.approx(flat(targets))
    assert "/worldforge/plans/remote/mpc/1/action_targets" in entity_paths(frame)
    assert "/worldforge/plans/remote/mpc/1/action_path" not in entity_paths(frame)  # one target: no path
    (payload,) = column_values(frame, "/worldforge/plans/mock/cem/0/payload", "TextDocument:text")
    assert json.loads(payload)["goal"] == "move the cube to the left"


def test_benchmark_scalars_equal_the_reports_numbers(recorded):
    path, _, _ = recorded
    frame = read_rrd(path, index="worldforge_benchmark_result", contents="/worldforge/benchmarks/**")
    for index, result in enumerate(BENCHMARK["results"]):
        base = f"/worldforge/benchmarks/mock/{result['operation']}"
        for metric in ("iterations", "success_count", "error_count", "average_latency_ms", "p95_latency_ms",
                       "throughput_per_second"):
            assert column_values(frame, f"{base}/{metric}", "Scalars:scalars") == [pytest.approx(result[metric])]
        (document,) = column_values(frame, f"{base}/result", "TextDocument:text")
        assert json.loads(document) == result
        rows = frame[frame[f"{base}/result:TextDocument:text"].notna()]
        assert rows["worldforge_benchmark_result"].tolist() == [index]
    # A result with the whole latency distribution also gets it as bars; one without it gets none.
    predict = BENCHMARK["results"][0]
    bars = bar_charts(path, "worldforge_benchmark_result", "/worldforge/benchmarks/mock/predict/latency_ms")
    assert bars == [pytest.approx([predict[f"{name}_latency_ms"] for name in ("min", "p50", "average", "p95", "max")])]
    table = read_rrd_arrow(path, index="worldforge_benchmark_result", contents="/worldforge/benchmarks/**")
    bar_columns = [name for name in table.column_names if "latency_ms:BarChart:values" in name]
    assert bar_columns == ["/worldforge/benchmarks/mock/predict/latency_ms:BarChart:values"]


FULL_LATENCIES = {"iterations": 3, "min_latency_ms": 1.0, "p50_latency_ms": 2.0, "average_latency_ms": 2.5,
                  "p95_latency_ms": 4.0, "max_latency_ms": 5.0}  # fmt: skip


def record_benchmarks(path, *reports: list[str]):
    """Record one benchmark report per list of operations (each result with the whole latency distribution)."""
    telemetry = worldforge_otel.configure(rerun=RerunOptions(save_path=path), set_global_providers=False)
    for operations in reports:
        results = [{"provider": "mock", "operation": op, **FULL_LATENCIES} for op in operations]
        telemetry.artifacts.record_benchmark({"results": results})
    telemetry.shutdown()
    return path


def test_two_benchmark_results_are_two_groups_of_bars_side_by_side(tmp_path):
    import rerun as rr

    path = record_benchmarks(tmp_path / "bench.rrd", ["predict", "plan"])
    table = read_rrd_arrow(path, index="worldforge_benchmark_result", contents="/worldforge/benchmarks/**")
    columns = [name for name in table.column_names if name.endswith(":BarChart:abscissa")]
    if "abscissa" not in inspect.signature(rr.BarChart).parameters:  # rerun-sdk < 0.41 draws them over each other
        assert columns == []
        return
    positions = []
    for column in sorted(columns):
        (cell,) = [cell for cell in table.column(column).to_pylist() if cell]
        positions.append([float(v) for v in cell[0]["buffer"]])
    assert len(positions) == 2 and all(len(p) == 5 for p in positions)
    (left, right) = sorted(positions)
    assert max(left) < min(right)  # two groups of five bars, not one stacked chart


def blueprint_strings(path) -> list[set[str]]:
    """Every string value of each blueprint store in a recording (view names, origins, ...), in order."""
    from rerun.chunk import RrdReader

    reader = RrdReader(str(path))
    stores = []
    for store in reader.blueprints():
        found: set[str] = set()
        for chunk in reader.stream(store=store).to_chunks():
            for column in chunk.to_record_batch().columns:
                for value in column.to_pylist():
                    if isinstance(value, list):
                        found.update(item for item in value if isinstance(item, str))
        stores.append(found)
    return stores


def test_each_benchmark_result_gets_a_chart_of_its_own_in_the_default_layout(tmp_path):
    pytest.importorskip("rerun.chunk", reason="rerun-sdk < 0.25 cannot read blueprints back")
    path = record_benchmarks(tmp_path / "charts.rrd", ["predict", "plan"], ["predict"])
    stores = blueprint_strings(path)  # (in no particular order)
    assert len(stores) == 2  # sent again once, for the two new kinds of result (not for the repeat)
    assert any("Benchmark ms" in store and "mock.predict ms" not in store for store in stores)  # before any result
    assert any({"mock.predict ms", "mock.plan ms"} <= store and "Benchmark ms" not in store for store in stores)


def test_doctor_report_and_image(recorded):
    path, _, _ = recorded
    frame = read_rrd(path, index="worldforge_time", contents="/worldforge/**")
    (doctor,) = column_values(frame, "/worldforge/diagnostics/doctor", "TextDocument:text")
    assert json.loads(doctor)["provider_count"] == 8 and "secret-token-value" not in doctor
    blobs = [c for c in frame.columns if c.startswith("/worldforge/media/worldforge.image/camera:EncodedImage:blob")]
    (blob,) = column_cells(frame, "/worldforge/media/worldforge.image/camera", blobs[0].split(":", 1)[1])
    assert bytes(bytearray(blob[0])) == png()
    assert_not_recorded(path, "sk-world-secret", "secret-token-value")


def test_the_same_payloads_reach_any_otel_backend(recorded):
    _, spans, telemetry = recorded
    by_name = {span.name: span for span in spans}
    world = by_name["worldforge.world"].attributes
    assert json.loads(world["worldforge.artifact.payload"])["name"] == "lab"
    assert list(world["worldforge.world.object_positions"]) == pytest.approx([0.3, 0.5, 0.0, -0.1, 0.25, 0.05])
    assert list(by_name["worldforge.plan"].attributes["worldforge.plan.targets"])[:3] == pytest.approx([0.6, 0.5, 0])
    events = by_name["worldforge.benchmark"].events
    assert [e.attributes["worldforge.benchmark.metric.p95_latency_ms"] for e in events] == [1.19, 6.25]
    image = by_name["worldforge.image"].events[0].attributes["worldforge.image.data"]
    assert image.startswith("data:image/png;base64,")
    parent = by_name["world.plan"].get_span_context().span_id
    assert all(by_name[n].parent.span_id == parent for n in ("worldforge.world", "worldforge.plan"))
    assert telemetry.artifacts.artifacts_recorded == 6 and telemetry.artifacts.artifacts_dropped == 0


@pytest.mark.parametrize("cap", [200, 1000, 5000])
def test_payload_json_never_exceeds_the_cap_and_stays_json(cap):
    text, truncated = payload_json({f"k{i}": '"quoted" ' * 400 for i in range(4)}, cap)
    assert truncated and len(text) <= cap and json.loads(text)["original_chars"] > cap


def test_the_default_blueprint_travels_with_the_recording(recorded):
    path, _, _ = recorded
    import rerun as rr

    if hasattr(rr, "dataframe") and hasattr(rr.dataframe, "load_recording"):  # 0.24: no reader for blueprints
        import subprocess
        import sys

        out = subprocess.run([sys.executable, "-m", "rerun", "rrd", "print", str(path)], capture_output=True,
                             text=True, check=True, timeout=60).stdout
        assert "kind: Blueprint" in out and "/view/" in out  # a blueprint store with views
        return
    from rerun.chunk import RrdReader

    blueprints = RrdReader(str(path)).blueprints()
    assert blueprints and blueprints[0].application_id == recording_ids(path)[0][0]


def test_an_attribute_length_limit_cuts_artifact_payloads_visibly(tmp_path, clean_env, caplog):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from worldforge_otel.instrumentation import ArtifactRecorder

    clean_env.setenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "300")
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    recorder = ArtifactRecorder(tracer_provider=provider)
    recorder.record_world(WORLD)
    (span,) = spans.get_finished_spans()
    payload = span.attributes["worldforge.artifact.payload"]
    assert len(payload) <= 300 and "truncated" in payload
    assert "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT" in caplog.text
    assert list(span.attributes["worldforge.world.object_positions"])  # geometry arrays are not cut


def test_a_hostile_scene_snapshot_never_raises_and_is_counted_or_drawn(tmp_path):
    path = tmp_path / "scene.rrd"
    telemetry = worldforge_otel.configure(rerun=RerunOptions(save_path=path), set_global_providers=False)
    nan, inf = float("nan"), float("inf")
    telemetry.artifacts.record_scene("not a snapshot")  # not a mapping: dropped, counted
    telemetry.artifacts.record_scene({
        "scene": "robotics_showcase", "step": 2, "scores": [nan, inf, 1.0, "x"], "selected_index": True,
        "candidates": [[[0.0, 0.0], [1.0, "b"]], "nope", [[0.1, 0.1, 0.0], [0.2, 0.2, 0.0]], {"a": 1}],
        "markers": {"agent": {"position": {"x": nan, "y": 0.0}}, "pin": {"position": [0.1, 0.2], "radius": -1,
                                                                        "color": ["r", 0, 0]}},
        "outlines": {"block": {"points": [[0.0, 0.0], [b"\xff", 1.0], [0.5, 0.5]], "width": nan}, "bad": 7},
        "metrics": {"ok": 2.5, "bad": nan, "flag": True, "nested": {"a": 1}}, "latency_ms": None,
    })  # fmt: skip
    telemetry.artifacts.record_scene({})  # nothing at all: an empty scene named "scene"
    telemetry.shutdown()
    assert (telemetry.artifacts.artifacts_recorded, telemetry.artifacts.artifacts_dropped) == (2, 1)
    assert telemetry.spans_dropped == 0
    frame = read_rrd(path, index="worldforge_robotics_showcase", contents="/worldforge/robotics_showcase/**")
    showcase = "/worldforge/robotics_showcase"
    assert column_values(frame, f"{showcase}/scores/ok", "Scalars:scalars") == [2.5]
    assert not {f"{showcase}/scores/{name}" for name in ("bad", "flag", "nested")} & entity_paths(frame)
    assert f"{showcase}/tabletop/agent" not in entity_paths(frame)  # a NaN coordinate is not a point
    assert f"{showcase}/tabletop/bad" not in entity_paths(frame)  # an outline that is not one
    assert f"{showcase}/scores/selected_index" not in entity_paths(frame)  # True is not an index
    (block,) = column_cells(frame, f"{showcase}/tabletop/block", "LineStrips3D:strips")
    assert [[float(c) for c in p] for p in block[0]] == [[0, 0, 0], [0.5, 0.5, 0], [0, 0, 0]]  # bad point skipped
    assert column_cells(frame, f"{showcase}/tabletop/block", "LineStrips3D:radii") == [[pytest.approx(0.002)]]
    assert column_cells(frame, f"{showcase}/tabletop/pin", "Points3D:radii") == [[pytest.approx(0.01)]]


class _Hostile:
    """An object whose to_dict raises, and whose str raises too."""

    def to_dict(self):
        raise RuntimeError("boom")

    def __str__(self):
        raise RuntimeError("no str either")


@pytest.mark.parametrize("record", ["world", "plan", "benchmark", "doctor", "image", "scene"])
def test_no_public_record_call_raises_into_the_host_on_hostile_input(record, providers):
    from worldforge_otel.instrumentation import ArtifactRecorder

    recorder = ArtifactRecorder(tracer_provider=providers.tracer_provider)
    method = getattr(recorder, f"record_{record}")
    hostile = [object(), _Hostile(), "not json", b"\xff\xfe", 42, None, float("nan"), {"results": object()},
               {"scene": {"objects": 7}}, {"outlines": _Hostile()}]  # fmt: skip
    for value in hostile:
        if record == "image":
            method(_Hostile(), value)  # type: ignore[arg-type]
        else:
            method(value)
    assert recorder.artifacts_recorded + recorder.artifacts_dropped == len(hostile)
    assert recorder.artifacts_dropped >= 3  # at least the object, the raising one and the number were no report
