"""The showcase's two models, shaped as WorldForge capability providers (``Policy`` and ``Cost``).

:class:`PushPolicy` proposes candidate action chunks: each walks the agent to a point just outside an edge of
the T and pushes through it. :class:`PhysicsScore` ranks them by rolling each one through a PushT simulator
restored to the observed state and measuring the T's predicted pose error. Both return WorldForge result
objects when worldforge-ai is installed (:mod:`.results`), and plain ones otherwise.
"""

from __future__ import annotations

import math
import random
from typing import Any, Final

from worldforge_otel.pusht.results import candidate_chunks, policy_result, score_result
from worldforge_otel.pusht.task import (
    ACTION_HIGH,
    ACTION_LOW,
    AGENT_RADIUS,
    Chunk,
    Point,
    PushTSimulator,
    TabletopState,
    pose_error,
    t_outline,
)

APPROACH_MARGIN: Final = 8.0
AGENT_DISTANCE_WEIGHT: Final = 0.05  # breaks ties between pushes that do not touch the T: stay close to it


class PushPolicy:
    """Proposes ``candidates`` chunks of ``horizon`` agent targets; the last one holds the agent still."""

    profile = None

    def __init__(self, *, candidates: int, horizon: int, seed: int, name: str = "pusht-push-policy") -> None:
        self.name = name
        self.candidates = candidates
        self.horizon = horizon
        self._random = random.Random(seed)

    def select_actions(self, *, info: dict[str, Any]) -> Any:
        """WorldForge ``Policy`` capability: the candidates for the state in ``info``."""
        state = TabletopState.from_info(info)
        chunks = [self._push(state) for _ in range(self.candidates - 1)]
        chunks.append([state.agent] * self.horizon)  # doing nothing is a candidate too
        return policy_result(self.name, chunks)

    def _push(self, state: TabletopState) -> Chunk:
        outline = t_outline(state.block)
        edges = list(zip(outline, outline[1:] + outline[:1], strict=True))
        lengths = [math.dist(a, b) for a, b in edges]
        (ax, ay), (bx, by) = self._random.choices(edges, weights=lengths)[0]
        t = self._random.uniform(0.1, 0.9)
        contact = (ax + (bx - ax) * t, ay + (by - ay) * t)
        length = math.dist((ax, ay), (bx, by))
        normal = ((by - ay) / length, -(bx - ax) / length)  # outward: the outline is counter-clockwise
        start = _offset(contact, normal, AGENT_RADIUS + APPROACH_MARGIN)
        end = _offset(contact, normal, -self._random.uniform(20.0, 80.0))
        approach = self.horizon // 3
        pushing = self.horizon - approach
        path = [start] * approach + [
            (start[0] + (end[0] - start[0]) * (i + 1) / pushing, start[1] + (end[1] - start[1]) * (i + 1) / pushing)
            for i in range(pushing)
        ]
        return [_clamp(point) for point in path]


class PhysicsScore:
    """Scores each candidate by the T's pose error after rolling it through the physics (lower is better)."""

    profile = None

    def __init__(self, *, seed: int, name: str = "pusht-physics-score") -> None:
        self.name = name
        self._model = PushTSimulator(seed=seed)

    def score_actions(self, *, info: dict[str, Any], action_candidates: object) -> Any:
        """WorldForge ``Cost`` capability: one score per candidate in ``action_candidates``."""
        state = TabletopState.from_info(info)
        scores: list[float] = []
        predicted: list[float] = []
        for chunk in candidate_chunks(action_candidates):
            final = self._model.rollout(state, chunk)
            error = pose_error(final.block)
            predicted.append(error)
            agent_gap = math.hypot(final.agent[0] - final.block[0], final.agent[1] - final.block[1])
            scores.append(error + AGENT_DISTANCE_WEIGHT * agent_gap)
        best = min(range(len(scores)), key=scores.__getitem__)
        return score_result(self.name, scores, best, metadata={"predicted_pose_errors": predicted})

    def close(self) -> None:
        """Release the model's simulator."""
        self._model.close()


def _offset(point: Point, direction: Point, distance: float) -> Point:
    return (point[0] + direction[0] * distance, point[1] + direction[1] * distance)


def _clamp(point: Point) -> Point:
    return (min(max(point[0], ACTION_LOW), ACTION_HIGH), min(max(point[1], ACTION_LOW), ACTION_HIGH))
