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
        assert seen and len(providers.spans.get_finished_spans()) == len(seen)  # both got every event
        # A handler that already records through us is not doubled.
        ours = worldforge.WorldForge(event_handler=instrumentor.handler)
        before = len(providers.spans.get_finished_spans())
        ours.create_world("lab2", provider="mock").predict(worldforge.Action.move_to(0.1, 0.1, 0.0), steps=1)
        assert len(providers.spans.get_finished_spans()) - before == 1
    finally:
        instrumentor.uninstrument()
    count = len(providers.spans.get_finished_spans())
    plain = worldforge.WorldForge()
    plain.create_world("lab3", provider="mock").predict(worldforge.Action.move_to(0.2, 0.2, 0.0), steps=1)
    forge.create_world("lab4", provider="mock").predict(worldforge.Action.move_to(0.2, 0.2, 0.0), steps=1)
    assert len(providers.spans.get_finished_spans()) == count  # unwrapped, and old instances went quiet
    assert len(seen) == 2  # the user's own handler keeps working
