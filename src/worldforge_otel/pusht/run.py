"""The PushT showcase loop: model-predictive control with WorldForge capabilities, recorded through OTel.

Per planning step, a cross-entropy search (:mod:`.search`) runs a few rounds: the policy proposes candidate
pushes from the round's distribution, the score model ranks them by rolling each through the physics, and the
best few narrow the next round. The best chunk found is executed on the real environment, then the step plans
again from where the T ended up (a chunk is a few actions of 0.1 s). The run ends at success (the T covers
:data:`SUCCESS_COVERAGE` of its goal, gym-pusht's criterion) or after ``max_actions`` actions.

One trace holds the run: ``pusht.episode`` > ``pusht.plan_step`` > ``pusht.search_round`` > the policy and
score provider spans (from their ``ProviderEvent``s), and ``pusht.execute``. Each step is also a scene
artifact (:mod:`.scene`: the candidates of every round, fading by round, and the chosen path) and a few
metrics; the executed path is recorded as a plan.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

from opentelemetry import metrics, trace

from worldforge_otel.instrumentation.artifacts import ArtifactRecorder
from worldforge_otel.pusht.capabilities import CapabilityCalls
from worldforge_otel.pusht.planner import PhysicsScore, PushPolicy
from worldforge_otel.pusht.results import candidate_chunks
from worldforge_otel.pusht.scene import meters, scene_snapshot
from worldforge_otel.pusht.search import CrossEntropySearch
from worldforge_otel.pusht.task import (
    Point,
    PushTSimulator,
    TabletopState,
    pose_error,
)
from worldforge_otel.version import __version__

SCOPE = "worldforge_otel.pusht"
SUCCESS_COVERAGE = 0.95  # gym-pusht's success threshold


@dataclass(frozen=True, slots=True)
class ShowcaseSettings:
    """How long and how wide to plan; the same seed gives the same run.

    ``steps`` planning steps at most, each a search of ``rounds`` rounds of ``candidates`` chunks of at least
    ``horizon`` actions; the run stops at success or after ``max_actions`` actions (gym-pusht's episode is 300).
    """

    steps: int = 40
    candidates: int = 32
    horizon: int = 8
    seed: int = 0
    rounds: int = 3
    max_actions: int = 300


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """What one planning step chose and what the physics made of it."""

    step: int
    candidates: int
    rounds: int
    actions: int
    selected_index: int
    best_score: float
    predicted_pose_error: float
    pose_error: float
    coverage: float
    policy_ms: float
    score_ms: float
    execute_ms: float

    def attributes(self) -> dict[str, float | int]:
        """The outcome as ``pusht.*`` span attributes (the step itself is on the span already)."""
        return {f"pusht.{key}": value for key, value in dataclasses.asdict(self).items() if key != "step"}


@dataclass(slots=True)
class ShowcaseRun:
    """The whole run."""

    settings: ShowcaseSettings
    source: str
    initial_pose_error: float
    initial_coverage: float
    steps: list[StepOutcome] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        """Whether the T reached :data:`SUCCESS_COVERAGE` of its goal."""
        return self.best_coverage >= SUCCESS_COVERAGE

    @property
    def actions(self) -> int:
        """Actions executed (0.1 s each)."""
        return sum(step.actions for step in self.steps)

    @property
    def final_pose_error(self) -> float:
        """Pose error of the T after the last step."""
        return self.steps[-1].pose_error if self.steps else self.initial_pose_error

    @property
    def best_coverage(self) -> float:
        """Highest goal coverage reached."""
        return max([self.initial_coverage, *(s.coverage for s in self.steps)])

    def latency_percentiles(self, name: str) -> tuple[float, float]:
        """p50 and p95 of ``policy``/``score``/``execute`` latencies in ms."""
        values = sorted(getattr(s, f"{name}_ms") for s in self.steps)
        if len(values) < 2:
            return (values[0], values[0]) if values else (0.0, 0.0)
        cuts = statistics.quantiles(values, n=20, method="inclusive")
        return statistics.median(values), cuts[18]


def run_showcase(
    settings: ShowcaseSettings,
    handler: Callable[[Any], None],
    *,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
    artifacts: ArtifactRecorder | None = None,
    on_step: Callable[[StepOutcome], None] | None = None,
) -> ShowcaseRun:
    """Run the showcase, sending provider events to ``handler`` (e.g. a ``configure()`` handle)."""
    tracer = (tracer_provider or trace.get_tracer_provider()).get_tracer(SCOPE, __version__)
    meter = (meter_provider or metrics.get_meter_provider()).get_meter(SCOPE, __version__)
    scored = meter.create_counter("worldforge.showcase.candidates", unit="{candidate}",
                                  description="Candidate action chunks scored")  # fmt: skip
    score_duration = meter.create_histogram("worldforge.showcase.score.duration", unit="s",
                                            description="Time to score one step's candidates")  # fmt: skip
    error_gauge = meter.create_gauge("worldforge.showcase.pose_error", unit="{table_unit}",
                                     description="Pose error of the T-block to its goal after a step")  # fmt: skip
    task = PushTSimulator(seed=settings.seed)
    policy = PushPolicy(candidates=settings.candidates, horizon=settings.horizon, seed=settings.seed)
    score = PhysicsScore(seed=settings.seed)
    search = CrossEntropySearch(rounds=settings.rounds)
    calls = CapabilityCalls(policy, score, handler)
    state = task.state()
    run = ShowcaseRun(settings, calls.source, pose_error(state.block), task.coverage)
    executed: list[Point] = []
    attributes = {"pusht.seed": settings.seed, "pusht.steps": settings.steps, "pusht.candidates": settings.candidates}
    try:
        with tracer.start_as_current_span("pusht.episode", attributes=attributes) as episode:
            for step in range(1, settings.steps + 1):
                if run.succeeded or run.actions >= settings.max_actions:
                    break
                with tracer.start_as_current_span("pusht.plan_step", attributes={"pusht.step": step}) as span:
                    budget = settings.max_actions - run.actions
                    outcome, chunk, snapshot = _plan_step(step, task, calls, search, tracer, budget=budget)
                    span.set_attributes(outcome.attributes())
                    executed.extend(chunk)
                    scored.add(outcome.candidates)
                    score_duration.record(outcome.score_ms / 1000)
                    error_gauge.set(outcome.pose_error)
                    if artifacts is not None:
                        artifacts.record_scene(snapshot)
                run.steps.append(outcome)
                if on_step is not None:
                    on_step(outcome)
            episode.set_attributes({"pusht.initial_pose_error": run.initial_pose_error,
                                    "pusht.final_pose_error": run.final_pose_error,
                                    "pusht.best_coverage": run.best_coverage, "pusht.succeeded": run.succeeded,
                                    "pusht.actions": run.actions})  # fmt: skip
            if artifacts is not None:
                artifacts.record_plan(executed_plan(executed), provider=policy.name, planner=score.name)
    finally:
        task.close()
        score.close()
    return run


def _plan_step(
    step: int,
    task: PushTSimulator,
    calls: CapabilityCalls,
    search: CrossEntropySearch,
    tracer: trace.Tracer,
    *,
    budget: int,
) -> tuple[StepOutcome, list[Point], dict[str, Any]]:
    state = task.state()
    rounds = _search(step, state, calls, search, tracer)
    chunks = [chunk for found in rounds for chunk in found.chunks]
    scores = [score for found in rounds for score in found.scores]
    predicted = [error for found in rounds for error in found.predicted]
    best = min(range(len(scores)), key=scores.__getitem__)
    chunk = chunks[best][:budget]
    with tracer.start_as_current_span("pusht.execute", attributes={"pusht.actions": len(chunk)}):
        executing = perf_counter()
        after = task.execute(chunk)
        done = perf_counter()
    outcome = StepOutcome(
        step=step,
        candidates=len(chunks),
        rounds=len(rounds),
        actions=len(chunk),
        selected_index=best,
        best_score=float(scores[best]),
        predicted_pose_error=float(predicted[best]) if len(predicted) > best else float("nan"),
        pose_error=pose_error(after.block),
        coverage=task.coverage,
        policy_ms=sum(found.policy_ms for found in rounds),
        score_ms=sum(found.score_ms for found in rounds),
        execute_ms=(done - executing) * 1000,
    )
    candidate_rounds = [found.round for found in rounds for _ in found.chunks]
    snapshot = scene_snapshot(
        state, after, chunks, scores, step=step, selected_index=best, candidate_rounds=candidate_rounds,
        metrics={"pose_error": outcome.pose_error, "predicted_pose_error": outcome.predicted_pose_error,
                 "coverage": outcome.coverage, "best_score": outcome.best_score},
        latency_ms={"policy": outcome.policy_ms, "score": outcome.score_ms, "execute": outcome.execute_ms},
    )  # fmt: skip
    return outcome, chunk, snapshot


@dataclass(frozen=True, slots=True)
class _Round:
    round: int
    chunks: list[list[Point]]
    scores: list[float]
    predicted: list[float]
    policy_ms: float
    score_ms: float


def _search(
    step: int, state: TabletopState, calls: CapabilityCalls, search: CrossEntropySearch, tracer: trace.Tracer
) -> list[_Round]:
    """The search's rounds, each its own span holding one policy call and one score call."""
    rounds: list[_Round] = []
    distribution: dict[str, list[float]] | None = None
    for number in range(1, search.rounds + 1):
        with tracer.start_as_current_span("pusht.search_round", attributes={"pusht.round": number}) as span:
            info = state.to_info(step=step, round=number, search=distribution)
            started = perf_counter()
            proposal = calls.select_actions(info)
            proposed = perf_counter()
            candidates = getattr(proposal, "action_candidates", proposal)
            ranking = calls.score_actions(info, candidates)
            ranked = perf_counter()
            scores = [float(score) for score in ranking.scores]
            pushes = (getattr(proposal, "metadata", None) or {}).get("pushes") or []
            found = _Round(number, candidate_chunks(candidates), scores,
                           [float(e) for e in ranking.metadata.get("predicted_pose_errors") or []],
                           (proposed - started) * 1000, (ranked - proposed) * 1000)  # fmt: skip
            rounds.append(found)
            if pushes:
                distribution = search.refine(pushes, scores[: len(pushes)])
            span.set_attributes({
                "pusht.candidates": len(scores), "pusht.best_score": min(scores),
                **({"pusht.search.where_std": distribution["std"][0], "pusht.search.depth_std": distribution["std"][1]}
                   if distribution else {}),
            })  # fmt: skip
    return rounds


def executed_plan(targets: list[Point]) -> dict[str, Any]:
    """The executed agent targets as a WorldForge-shaped plan document (``move_to`` actions, meters)."""
    return {
        "goal": "push the T-block onto its goal pose",
        "actions": [
            {"type": "move_to", "parameters": {"target": dict(zip("xyz", meters(p), strict=True))}} for p in targets
        ],
    }
