"""Against the real worldforge-ai package (Python >= 3.13; run by tox -e py313-worldforge)."""

from __future__ import annotations

import pytest

import worldforge_otel
from conftest import column_values, entity_paths, needs_rerun, read_rrd

worldforge = pytest.importorskip("worldforge", reason="worldforge-ai needs Python >= 3.13 (tox -e py313-worldforge)")
pytestmark = [pytest.mark.worldforge, needs_rerun]


def test_real_worldforge_mock_flow_produces_spans_and_a_readable_recording(tmp_path, providers):
    path = tmp_path / "real.rrd"
    telemetry = worldforge_otel.configure(
        rerun=worldforge_otel.RerunOptions(save_path=path), tracer_provider=providers.tracer_provider,
        meter_provider=providers.meter_provider, set_global_providers=False,
    )
    forge = worldforge.WorldForge(event_handler=telemetry)
    world = forge.create_world("lab", provider="mock")
    world.predict(worldforge.Action.move_to(0.3, 0.5, 0.0), steps=2)
    world.plan(goal="move the cube to the left", provider="mock")
    telemetry(worldforge.ProviderEvent(provider="remote", operation="generate", phase="failure",
                                       status_code=503, duration_ms=3.0, message="HTTP 503"))
    telemetry.shutdown()
    spans = providers.spans.get_finished_spans()
    assert spans and {s.name for s in spans} >= {"predict mock", "generate remote"}
    assert telemetry.stats.events_dropped == 0
    frame = read_rrd(path, index="worldforge_event", contents="/worldforge/**")
    assert "/worldforge/events/mock/predict/success/log" in entity_paths(frame)
    durations = column_values(frame, "/worldforge/events/mock/predict/success/duration_ms", "Scalars:scalars")
    assert durations and all(d >= 0 for d in durations)
    assert column_values(frame, "/worldforge/events/remote/generate/failure/log", "TextLog:level") == ["ERROR"]


def test_instrumentor_composes_with_the_users_handler_and_uninstruments(providers):
    from worldforge_otel.instrumentation.instrumentor import WorldForgeInstrumentor

    instrumentor = WorldForgeInstrumentor()
    instrumentor.instrument(tracer_provider=providers.tracer_provider, meter_provider=providers.meter_provider)
    try:
        seen = []
        forge = worldforge.WorldForge(event_handler=seen.append)
        forge.create_world("lab", provider="mock").predict(worldforge.Action.move_to(0.3, 0.5, 0.0), steps=1)
        assert instrumentor.handler.force_flush(5_000)
        assert seen and len(providers.spans.get_finished_spans()) == len(seen)  # both got every event
        # A handler that already records through us is not doubled.
        ours = worldforge.WorldForge(event_handler=instrumentor.handler)
        before = len(providers.spans.get_finished_spans())
        ours.create_world("lab2", provider="mock").predict(worldforge.Action.move_to(0.1, 0.1, 0.0), steps=1)
        assert instrumentor.handler.force_flush(5_000)
        assert len(providers.spans.get_finished_spans()) - before == 1
    finally:
        instrumentor.uninstrument()
    count = len(providers.spans.get_finished_spans())
    plain = worldforge.WorldForge()
    plain.create_world("lab3", provider="mock").predict(worldforge.Action.move_to(0.2, 0.2, 0.0), steps=1)
    forge.create_world("lab4", provider="mock").predict(worldforge.Action.move_to(0.2, 0.2, 0.0), steps=1)
    assert len(providers.spans.get_finished_spans()) == count  # unwrapped, and old instances went quiet
    assert len(seen) == 2  # the user's own handler keeps working


def test_real_world_plan_benchmark_and_doctor_artifacts(tmp_path, providers):
    from conftest import column_cells

    path = tmp_path / "artifacts.rrd"
    telemetry = worldforge_otel.configure(
        rerun=worldforge_otel.RerunOptions(save_path=path), tracer_provider=providers.tracer_provider,
        meter_provider=providers.meter_provider, set_global_providers=False,
    )
    forge = worldforge.WorldForge(event_handler=telemetry, state_dir=tmp_path / "worlds")
    world = forge.create_world("lab", provider="mock")
    P, B = worldforge.Position, worldforge.BBox
    world.add_object(worldforge.SceneObject("cube", P(0.1, 0.2, 0.3), B(P(0.0, 0.1, 0.2), P(0.2, 0.3, 0.4))))
    world.add_object(worldforge.SceneObject("mug", P(-0.4, 0.5, 0.0), B(P(-0.5, 0.45, 0.0), P(-0.3, 0.55, 0.12))))
    world.predict(worldforge.Action.move_to(0.3, 0.5, 0.0), steps=2)
    telemetry.artifacts.record_world(world)
    plan = world.plan(goal="move the cube to the left", provider="mock")
    telemetry.artifacts.record_plan(plan)
    report = worldforge.ProviderBenchmarkHarness(forge=forge).run("mock", operations=["predict"], iterations=3)
    telemetry.artifacts.record_benchmark(report)
    telemetry.artifacts.record_doctor(forge.doctor())
    telemetry.shutdown()
    assert telemetry.artifacts.artifacts_dropped == 0

    state = world.to_dict()
    objects = list(state["scene"]["objects"].values())
    frame = read_rrd(path, index="worldforge_step", contents="/worldforge/worlds/**")
    base = f"/worldforge/worlds/{world.id}"
    assert frame["worldforge_step"].dropna().tolist() == [state["step"]]
    (positions,) = column_cells(frame, f"{base}/objects", "Points3D:positions")
    expected = [[o["pose"]["position"][k] for k in "xyz"] for o in objects]
    assert [pytest.approx(p) for p in positions] == expected
    def outside_its_bbox(item) -> bool:  # worldforge-ai's mock moves the pose and leaves the bbox behind
        low, high, at = item["bbox"]["min"], item["bbox"]["max"], item["pose"]["position"]
        return any(not low[k] - 1e-9 <= at[k] <= high[k] + 1e-9 for k in "xyz")

    labels = [o["name"] + (" (bbox moved to it)" if outside_its_bbox(o) else "") for o in objects]
    assert any(outside_its_bbox(o) for o in objects)  # the case the label is for happens here
    assert column_cells(frame, f"{base}/objects", "Points3D:labels") == [labels]
    (half_sizes,) = column_cells(frame, f"{base}/object_boxes", "Boxes3D:half_sizes")
    for half, item in zip(half_sizes, objects, strict=True):
        assert half == pytest.approx([(item["bbox"]["max"][k] - item["bbox"]["min"][k]) / 2 for k in "xyz"])

    plan_dict = plan.to_dict()
    frame = read_rrd(path, index="worldforge_plan", contents="/worldforge/plans/**")
    (targets,) = column_cells(frame, f"/worldforge/plans/mock/{plan_dict['planner']}/0/action_targets",
                              "Points3D:positions")
    expected_targets = [[a["parameters"]["target"][k] for k in "xyz"] for a in plan_dict["actions"]]
    assert [pytest.approx(t) for t in targets] == expected_targets

    (result,) = report.to_dict()["results"]
    frame = read_rrd(path, index="worldforge_benchmark_result", contents="/worldforge/benchmarks/**")
    for metric in ("average_latency_ms", "p95_latency_ms", "throughput_per_second", "success_count"):
        values = column_values(frame, f"/worldforge/benchmarks/mock/predict/{metric}", "Scalars:scalars")
        assert values == [pytest.approx(result[metric])]
    assert frame["worldforge_benchmark_result"].tolist() == [0]
    frame = read_rrd(path, index="worldforge_time", contents="/worldforge/diagnostics/**")
    assert column_values(frame, "/worldforge/diagnostics/doctor", "TextDocument:text")


def test_the_readme_use_it_example_records_a_world_a_plan_and_one_trace(tmp_path):
    """examples/use_it.py, as the README shows it, in a fresh directory: a scene worth opening, said quietly."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from conftest import recorded_entity_paths

    example = Path(__file__).resolve().parents[1] / "examples" / "use_it.py"
    result = subprocess.run([sys.executable, str(example)], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "RERUN_ANALYTICS": "false"}, check=False)  # fmt: skip
    assert result.returncode == 0 and result.stderr == "", result.stderr
    (recording,) = (tmp_path / ".worldforge" / "rerun").glob("*.rrd")
    paths = recorded_entity_paths(recording)
    assert any(p.startswith("/worldforge/worlds/") and p.endswith("/objects") for p in paths)  # the cube in 3D
    assert any(p.startswith("/worldforge/plans/mock/") for p in paths)
    assert "/worldforge/events/mock/predict/success/log" in paths
    assert "/otel/spans/my-app/plan_the_lab/log" in paths
    traces = {p.split("/")[3] for p in paths if p.startswith("/otel/traces/")} - {"waterfall"}
    assert len(traces) == 1  # everything in one trace: its waterfall and span tree
