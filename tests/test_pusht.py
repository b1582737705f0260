"""The PushT showcase: real gym-pusht physics, planned through WorldForge capabilities, read back from the .rrd."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

from conftest import Providers, bar_charts, column_cells, column_values, entity_paths, needs_rerun, read_rrd
from worldforge_otel.cli import build_parser, run_pusht
from worldforge_otel.pusht.run import ShowcaseSettings, run_showcase
from worldforge_otel.pusht.task import PushTSimulator, pose_error
from worldforge_otel.rerun.scene import SELECTED_LIFT

pytest.importorskip("gym_pusht", reason="the PushT showcase needs the pusht extra (gym-pusht)")
pytest.importorskip("rich", reason="the PushT showcase needs the pusht extra (rich)")

SHOWCASE = "/worldforge/robotics_showcase"
SHOWCASE_TIMELINE = "worldforge_robotics_showcase"
STEPS, ROUNDS, CANDIDATES = 4, 3, 6  # few candidates: the run does not reach its goal within the steps
PER_STEP = ROUNDS * CANDIDATES


def run_cli(*flags: str, providers: Providers) -> int:
    args = build_parser().parse_args(["pusht", "--seed", "3", "--steps", str(STEPS), "--rounds", str(ROUNDS),
                                      "--candidates", str(CANDIDATES), *flags])  # fmt: skip
    return run_pusht(args, tracer_provider=providers.tracer_provider, meter_provider=providers.meter_provider)


def strips(frame, entity: str) -> list[list[list[list[float]]]]:
    """Every LineStrips3D row of ``entity``: its strips, each a list of [x, y, z]."""
    rows = column_cells(frame, entity, "LineStrips3D:strips")
    return [[[[float(c) for c in point] for point in strip] for strip in row] for row in rows]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """One short showcase run through the CLI into an .rrd, with the spans also in memory."""
    path = tmp_path_factory.mktemp("pusht") / "pusht.rrd"
    providers = Providers()
    assert run_cli("--rerun-output", str(path), providers=providers) == 0
    return path, providers


@needs_rerun
def test_tabletop_entities_exist_on_the_showcase_timeline_for_every_step(recorded):
    path, _ = recorded
    frame = read_rrd(path, index="worldforge_robotics_showcase", contents=f"{SHOWCASE}/**")
    assert sorted(frame["worldforge_robotics_showcase"].tolist()) == list(range(1, STEPS + 1))
    for name in ("table", "goal", "block", "agent", "candidates", "selected"):
        assert f"{SHOWCASE}/tabletop/{name}" in entity_paths(frame), name
    blocks = strips(frame, f"{SHOWCASE}/tabletop/block")
    assert len(blocks) == STEPS
    for (outline,) in blocks:
        assert len(outline) == 9 and outline[0] == outline[-1]  # the T's 8 corners, closed
        assert all(0.0 <= x <= 0.512 and 0.0 <= y <= 0.512 and z == 0.0 for x, y, z in outline)
    (goal, *_) = strips(frame, f"{SHOWCASE}/tabletop/goal")
    center = [sum(p[i] for p in goal[0][:8]) / 8 for i in (0, 1)]
    assert math.dist(center, [0.256, 0.256]) < 0.06  # the goal pose sits in the middle of the table


@needs_rerun
def test_every_step_draws_one_path_per_candidate_and_selects_the_best_score(recorded):
    path, _ = recorded
    frame = read_rrd(path, index="worldforge_robotics_showcase", contents=f"{SHOWCASE}/**")
    candidate_steps = strips(frame, f"{SHOWCASE}/tabletop/candidates")
    assert [len(strips) for strips in candidate_steps] == [PER_STEP] * STEPS  # every round's candidates
    bars = bar_charts(path, SHOWCASE_TIMELINE, f"{SHOWCASE}/scores/candidates")
    selected = column_values(frame, f"{SHOWCASE}/scores/selected_index", "Scalars:scalars")
    chosen = strips(frame, f"{SHOWCASE}/tabletop/selected")
    assert len(bars) == len(selected) == len(chosen) == STEPS
    for colors in column_cells(frame, f"{SHOWCASE}/tabletop/candidates", "LineStrips3D:colors"):
        alphas = [int(color) & 0xFF for color in colors]  # packed RGBA
        by_round = [alphas[r * CANDIDATES : (r + 1) * CANDIDATES] for r in range(ROUNDS)]
        assert all(len(set(a)) == 1 for a in by_round)  # one shade per round,
        assert by_round[0][0] < by_round[1][0] < by_round[2][0]  # earlier rounds fainter
    for scores, index, paths, (selected_strip,) in zip(bars, selected, candidate_steps, chosen, strict=True):
        assert len(scores) == PER_STEP
        assert int(index) == min(range(PER_STEP), key=scores.__getitem__)  # the best of every round; lower is better
        lifted = [[x, y, pytest.approx(z + SELECTED_LIFT, abs=1e-6)] for x, y, z in paths[int(index)]]
        assert selected_strip == lifted  # the chosen candidate, drawn just above the others
    scores_in_sequence = column_values(
        read_rrd(path, index="worldforge_candidate", contents=f"{SHOWCASE}/scores/candidate_score"),
        f"{SHOWCASE}/scores/candidate_score", "Scalars:scalars",
    )  # fmt: skip
    assert len(scores_in_sequence) == STEPS * PER_STEP


@needs_rerun
def test_runtime_scalars_are_positive_latencies(recorded):
    path, _ = recorded
    frame = read_rrd(path, index="worldforge_robotics_showcase", contents=f"{SHOWCASE}/runtime/**")
    for name in ("policy_ms", "score_ms", "execute_ms"):
        values = column_values(frame, f"{SHOWCASE}/runtime/{name}", "Scalars:scalars")
        assert len(values) == STEPS and all(v > 0 for v in values), name


@needs_rerun
def test_the_recording_also_holds_the_provider_events_and_the_executed_plan(recorded):
    path, _ = recorded
    frame = read_rrd(path, index="worldforge_time")
    paths = entity_paths(frame)
    assert "/worldforge/events/pusht-push-policy/policy/success/log" in paths
    assert "/worldforge/events/pusht-physics-score/score/success/log" in paths
    assert "/worldforge/plans/pusht-push-policy/pusht-physics-score/0/action_path" in paths
    assert any(p.startswith("/otel/spans/") and "pusht.execute" in p for p in paths)


def test_each_step_is_a_trace_subtree_of_search_rounds_then_execute(recorded):
    _, providers = recorded
    spans = providers.spans.get_finished_spans()
    (episode,) = [s for s in spans if s.name == "pusht.episode"]
    steps = [s for s in spans if s.name == "pusht.plan_step"]
    assert len(steps) == STEPS
    assert {s.parent.span_id for s in steps} == {episode.context.span_id}

    def children(parent) -> list:
        return sorted((s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id),
                      key=lambda s: s.start_time)  # fmt: skip

    for step in steps:
        assert [s.name for s in children(step)] == ["pusht.search_round"] * ROUNDS + ["pusht.execute",
                                                                                      "worldforge.scene"]
        assert step.attributes["pusht.candidates"] == PER_STEP and step.attributes["pusht.rounds"] == ROUNDS
        rounds = children(step)[:ROUNDS]
        assert [r.attributes["pusht.round"] for r in rounds] == list(range(1, ROUNDS + 1))
        for search_round in rounds:  # one policy call and one score call per round: the trace shows the search
            assert [s.name for s in children(search_round)] == ["policy pusht-push-policy", "score pusht-physics-score"]
            assert search_round.attributes["pusht.search.where_std"] > 0  # the distribution the next round draws from
    assert {s.context.trace_id for s in spans if s.name != "worldforge.demo"} == {episode.context.trace_id}
    points = providers.metric_points()
    assert sum(p.value for p in points["worldforge.showcase.candidates"]) == STEPS * PER_STEP
    assert sum(p.count for p in points["worldforge.showcase.score.duration"]) == STEPS


def test_the_planner_brings_the_t_block_closer_to_its_goal_in_the_physics(providers):
    """Replays the executed plan (read from its span) on a fresh simulator: the pose error really drops."""
    from worldforge_otel.configure import configure

    telemetry = configure(rerun=False, tracer_provider=providers.tracer_provider,
                          meter_provider=providers.meter_provider, set_global_providers=False)  # fmt: skip
    run = run_showcase(ShowcaseSettings(steps=12, seed=0), telemetry, tracer_provider=providers.tracer_provider,
                       artifacts=telemetry.artifacts)  # fmt: skip
    telemetry.shutdown()
    (plan,) = [s for s in providers.spans.get_finished_spans() if s.name == "worldforge.plan"]
    flat = list(plan.attributes["worldforge.plan.targets"])
    targets = [(flat[i] * 1000, flat[i + 1] * 1000) for i in range(0, len(flat), 3)]
    assert len(targets) == run.actions >= len(run.steps) * ShowcaseSettings().horizon
    replay = PushTSimulator(seed=0)
    start = pose_error(replay.state().block)
    end = pose_error(replay.execute(targets).block)
    replay.close()
    assert start == pytest.approx(run.initial_pose_error)
    assert end == pytest.approx(run.final_pose_error, abs=1e-6)
    assert end < 0.5 * start, f"pose error {start:.1f} -> {end:.1f}"
    assert run.best_coverage > run.initial_coverage


@needs_rerun
def test_the_default_planner_reaches_the_goal_and_the_recording_shows_coverage_rising_to_success(tmp_path, providers):
    """Seed 3 succeeds early: the run stops at success, well inside gym-pusht's 300 actions."""
    from worldforge_otel.configure import configure
    from worldforge_otel.rerun import RerunOptions

    path = tmp_path / "success.rrd"
    telemetry = configure(rerun=RerunOptions(save_path=path), tracer_provider=providers.tracer_provider,
                          meter_provider=providers.meter_provider, set_global_providers=False)  # fmt: skip
    run = run_showcase(ShowcaseSettings(seed=3), telemetry, tracer_provider=providers.tracer_provider,
                       meter_provider=providers.meter_provider, artifacts=telemetry.artifacts)  # fmt: skip
    telemetry.shutdown()
    assert run.succeeded and run.actions <= 300 and len(run.steps) < ShowcaseSettings().steps  # stopped at success
    uniform_spread = 560 / math.sqrt(12)  # the first round draws the outline position uniformly (560 units)
    rounds = [s for s in providers.spans.get_finished_spans() if s.name == "pusht.search_round"]
    assert len(rounds) == len(run.steps) * ShowcaseSettings().rounds
    spread = {n: [r.attributes["pusht.search.where_std"] for r in rounds if r.attributes["pusht.round"] == n]
              for n in (1, ShowcaseSettings().rounds)}  # fmt: skip
    assert max(spread[1]) < uniform_spread  # the elite of the first round is already narrower than its draw,
    assert sum(spread[ShowcaseSettings().rounds]) < 0.5 * sum(spread[1])  # and the last rounds narrow it further
    frame = read_rrd(path, index=SHOWCASE_TIMELINE, contents=f"{SHOWCASE}/scores/**")
    coverage = column_values(frame, f"{SHOWCASE}/scores/coverage", "Scalars:scalars")
    assert len(coverage) == len(run.steps) and coverage[-1] >= 0.95 > max(coverage[:-1], default=0.0)
    assert coverage[-1] > run.initial_coverage


def test_the_same_seed_gives_the_same_run_and_another_seed_another():
    def errors(seed: int) -> list[float]:
        run = run_showcase(ShowcaseSettings(steps=3, candidates=8, seed=seed), lambda event: None)
        return [step.pose_error for step in run.steps]

    assert errors(5) == errors(5)
    assert errors(5) != errors(6)


def test_no_rerun_writes_no_recording_and_still_exports_the_spans(providers, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert run_cli("--no-rerun", providers=providers) == 0
    assert list(Path(tmp_path).rglob("*.rrd")) == []
    names = [s.name for s in providers.spans.get_finished_spans()]
    assert names.count("pusht.plan_step") == STEPS and names.count("policy pusht-push-policy") == STEPS * ROUNDS
    assert "disabled (--no-rerun)" in capsys.readouterr().out


def test_the_models_are_worldforge_capability_providers_when_worldforge_is_installed():
    worldforge = pytest.importorskip("worldforge", reason="worldforge-ai needs Python >= 3.13")
    events: list[object] = []
    run = run_showcase(ShowcaseSettings(steps=1, candidates=4, rounds=2), events.append)
    assert run.source.startswith("WorldForge")
    assert [type(e) for e in events] == [worldforge.ProviderEvent] * 4
    assert [(e.provider, e.operation, e.phase) for e in events] == [
        ("pusht-push-policy", "policy", "success"), ("pusht-physics-score", "score", "success")] * 2


def test_without_gym_pusht_the_command_says_which_extra_to_install(monkeypatch, capsys, providers):
    for name in ("gym_pusht", "gym_pusht.envs", "gym_pusht.envs.pusht"):
        monkeypatch.setitem(sys.modules, name, None)  # makes the import fail as if it were not installed
    assert run_cli("--no-rerun", providers=providers) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["worldforge-otel pusht: the PushT showcase needs gym-pusht; install the pusht extra: "
                   "pip install 'worldforge-otel[pusht]'"]  # fmt: skip
    assert providers.spans.get_finished_spans() == ()


def test_the_search_centres_on_the_best_pushes_and_keeps_exploring():
    from worldforge_otel.pusht.planner import PERIMETER
    from worldforge_otel.pusht.search import MIN_STD, CrossEntropySearch

    search = CrossEntropySearch(rounds=3, elite_fraction=0.25)
    pushes = [[10.0, 20.0, 0.1], [12.0, 22.0, 0.1], [300.0, 5.0, -0.5], [400.0, 40.0, 0.4]]
    distribution = search.refine(pushes, [1.0, 2.0, 50.0, 60.0])  # the first two are the elite
    assert distribution["mean"] == pytest.approx([11.0, 21.0, 0.1], abs=1e-6)
    assert distribution["std"] == pytest.approx([MIN_STD[0], MIN_STD[1], MIN_STD[2]], abs=1.01)  # at its floor
    across = search.refine([[PERIMETER - 2.0, 10.0, 0.0], [2.0, 10.0, 0.0]], [1.0, 1.0])  # both sides of corner 0
    assert min(across["mean"][0], PERIMETER - across["mean"][0]) < 1e-6  # averaged on the circle, not to the far side
