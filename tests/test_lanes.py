"""Spans as StateChange lanes on worldforge_time, read back from the recording."""

from __future__ import annotations

import time

import pandas as pd
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from conftest import needs_rerun, read_rrd, recorded_entity_paths
from worldforge_otel.demo import DemoEvent
from worldforge_otel.instrumentation import ProviderEventHandler
from worldforge_otel.rerun import RerunOptions, RerunSpanExporter

pytestmark = needs_rerun
MS = 1_000_000


def has_lanes() -> bool:
    import rerun as rr

    return hasattr(rr, "StateChange")


def lane_states(path, lane: str) -> list[tuple[int, str]]:
    """(ns since the first row, state) of one lane, in time order; '' is a reset."""
    frame = read_rrd(path, index="worldforge_time", contents=f"{lane}/**")
    column = frame[f"{lane}:StateChange:state"]
    times = pd.to_datetime(frame["worldforge_time"]).astype("int64")
    rows = [(int(t), cell[0]) for t, cell in zip(times, column, strict=True) if cell is not None and len(cell)]
    rows.sort()
    return rows


def spans_of(tmp_path, draw):
    path = tmp_path / "lanes.rrd"
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    provider.add_span_processor(SimpleSpanProcessor(RerunSpanExporter(options=RerunOptions(save_path=path))))
    draw(provider)
    provider.shutdown()
    return path


@pytest.mark.skipif("not has_lanes()", reason="rerun-sdk < 0.32 has no StateChange")
def test_a_lane_is_on_while_its_spans_run_and_shows_their_status(tmp_path):
    t0 = 1_700_000_000_000 * MS

    def draw(provider):
        tracer = provider.get_tracer("t")
        tracer.start_span("GET /cart", start_time=t0).end(end_time=t0 + 10 * MS)
        failed = tracer.start_span("GET /cart", start_time=t0 + 20 * MS)
        failed.set_status(Status(StatusCode.ERROR, "boom"))
        failed.end(end_time=t0 + 30 * MS)
        tracer.start_span("SELECT", start_time=t0 + 2 * MS).end(end_time=t0 + 4 * MS)

    path = spans_of(tmp_path, draw)
    lane = "/otel/lanes/shop/GET_cart"
    assert {lane, "/otel/lanes/shop/SELECT"} <= recorded_entity_paths(path)
    assert lane_states(path, lane) == [(t0, "ok"), (t0 + 10 * MS, ""), (t0 + 20 * MS, "error"), (t0 + 30 * MS, "")]
    assert lane_states(path, "/otel/lanes/shop/SELECT") == [(t0 + 2 * MS, "ok"), (t0 + 4 * MS, "")]


@pytest.mark.skipif("not has_lanes()", reason="rerun-sdk < 0.32 has no StateChange")
def test_overlapping_spans_keep_their_lane_on_until_the_last_ends(tmp_path):
    t0 = 1_700_000_000_000 * MS

    def draw(provider):
        tracer = provider.get_tracer("t")
        first = tracer.start_span("job", start_time=t0)
        second = tracer.start_span("job", start_time=t0 + 5 * MS)
        third = tracer.start_span("job", start_time=t0 + 30 * MS)
        spans = [first, second, third]
        for span, end in zip(spans, (10, 20, 40), strict=True):
            span.end(end_time=t0 + end * MS)
        # one export: SimpleSpanProcessor exports each span alone, so send the three together
        return spans

    path = tmp_path / "overlap.rrd"
    exporter = RerunSpanExporter(options=RerunOptions(save_path=path))
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    spans = draw(provider)
    exporter.export(spans)
    exporter.shutdown()
    states = lane_states(path, "/otel/lanes/shop/job")
    # on at 0, again at 5 (the second starts), off only at 20 (the first's end at 10 leaves one running)
    assert states == [(t0, "ok"), (t0 + 5 * MS, "ok"), (t0 + 20 * MS, ""), (t0 + 30 * MS, "ok"), (t0 + 40 * MS, "")]


@pytest.mark.skipif("not has_lanes()", reason="rerun-sdk < 0.32 has no StateChange")
def test_provider_events_get_lanes_with_retry_and_failure_states(tmp_path):
    path = tmp_path / "events.rrd"
    provider = TracerProvider(resource=Resource.create({"service.name": "planner"}))
    provider.add_span_processor(SimpleSpanProcessor(RerunSpanExporter(options=RerunOptions(save_path=path))))
    handler = ProviderEventHandler(tracer_provider=provider, meter_provider=MeterProvider(), deferred=False)
    handler(DemoEvent("remote", "generate", "retry", attempt=1, max_attempts=2, duration_ms=5.0))
    time.sleep(0.02)  # the next call starts (5 ms before its event) after this one ended
    handler(DemoEvent("remote", "generate", "failure", attempt=2, max_attempts=2, duration_ms=5.0))
    provider.shutdown()
    states = [state for _, state in lane_states(path, "/otel/lanes/planner/generate_remote")]
    assert states == ["retry", "", "error", ""]


@pytest.mark.skipif("has_lanes()", reason="rerun-sdk >= 0.32 has lanes")
def test_without_state_change_no_lane_is_written(tmp_path):
    path = spans_of(tmp_path, lambda provider: provider.get_tracer("t").start_span("GET /").end())
    paths = recorded_entity_paths(path)
    assert "/otel/spans/shop/GET_/log" in paths
    assert not any(p.startswith("/otel/lanes") for p in paths)


def views(blueprint) -> list[tuple[str, str | None, str | None]]:
    """(view class, name, origin) of every view in a blueprint, depth first."""
    found = []

    def walk(item):
        if hasattr(item, "origin"):
            found.append((type(item).__name__, item.name, str(item.origin)))
        for child in getattr(item, "contents", None) or []:
            if not isinstance(child, str):
                walk(child)

    walk(blueprint.root_container)
    return found


@pytest.mark.parametrize("which", ["default_blueprint", "showcase_blueprint"])
def test_the_blueprints_show_the_lanes_where_the_viewer_can(which):
    from worldforge_otel.pusht import blueprint as showcase
    from worldforge_otel.rerun import blueprint

    shown = views(getattr(blueprint if which == "default_blueprint" else showcase, which)())
    lanes = [view for view in shown if view[0] == "StateTimelineView"]
    assert lanes == ([("StateTimelineView", "Spans over time", "/otel/lanes")] if has_lanes() else [])
    if which == "default_blueprint" and has_lanes():  # right under the 3D view
        kinds = [view[0] for view in shown]
        assert kinds.index("StateTimelineView") == kinds.index("Spatial3DView") + 1


@pytest.mark.skipif("not has_lanes()", reason="rerun-sdk < 0.32 has no StateChange")
def test_span_names_past_the_budget_get_no_lane(tmp_path):
    from worldforge_otel.rerun.cardinality import DEFAULT_MAX_SPAN_NAMES

    def draw(provider):
        tracer = provider.get_tracer("t")
        for n in range(DEFAULT_MAX_SPAN_NAMES + 20):
            tracer.start_span(f"GET /nope/{n}").end()

    paths = recorded_entity_paths(spans_of(tmp_path, draw))
    lanes = {p for p in paths if p.startswith("/otel/lanes/")}
    assert len(lanes) == DEFAULT_MAX_SPAN_NAMES and "/otel/lanes/shop/_other" not in lanes
