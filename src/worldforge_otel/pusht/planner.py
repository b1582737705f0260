"""The showcase's two models, shaped as WorldForge capability providers (``Policy`` and ``Cost``).

:class:`PushPolicy` proposes candidate action chunks, each a *push*: walk around the T to a point just outside
one of its edges, then push through it. A push is three numbers (:class:`Push`): where on the T's outline,
how deep, and at what angle to the edge's normal. The policy samples them from the search distribution it is
given (the cross-entropy search in :mod:`.search` narrows it round by round), or uniformly in the first round.
:class:`PhysicsScore` ranks chunks by rolling each through the PushT physics restored to the observed state:
the mean distance of the T's outline corners to their goal positions (which weighs turning and moving alike,
so a push that turns the T the right way counts), plus a little for the agent ending far from the T. Both
return WorldForge result objects when worldforge-ai is installed (:mod:`.results`), plain ones otherwise.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Final

from worldforge_otel.pusht.results import candidate_chunks, policy_result, score_result
from worldforge_otel.pusht.task import (
    ACTION_HIGH,
    ACTION_LOW,
    AGENT_RADIUS,
    GOAL_POSE,
    Chunk,
    Point,
    PushTSimulator,
    TabletopState,
    pose_error,
    t_outline,
)

CONTACT_GAP: Final = 3.0  # table units between the agent and the T where a push starts
APPROACH_GAP: Final = 25.0  # where the agent lines up before it moves in
KEEP_OUT: Final = 120.0 + AGENT_RADIUS + 10.0  # around the T's centroid: the walk around it stays outside
CENTROID_OFFSET: Final = 45.0  # the T's centroid along its stem, from its origin
AGENT_DISTANCE_WEIGHT: Final = 0.02  # breaks ties between pushes: end close to the T
DEPTH_RANGE: Final = (1.0, 50.0)  # how far a push goes past the contact point (first round)
TILT_RANGE: Final = (-0.6, 0.6)  # radians off the edge's inward normal (first round)
GOAL_CORNERS: Final = tuple(t_outline(GOAL_POSE))
PERIMETER: Final = sum(math.dist(a, b) for a, b in zip(GOAL_CORNERS, GOAL_CORNERS[1:] + GOAL_CORNERS[:1], strict=True))


@dataclass(frozen=True, slots=True)
class Push:
    """One push, in the search's coordinates.

    ``where`` along the T's outline (table units from its first corner), ``depth`` past the contact point,
    ``tilt`` off the edge's inward normal (radians).
    """

    where: float
    depth: float
    tilt: float

    def as_list(self) -> list[float]:
        """The push as ``[where, depth, tilt]`` (the search's coordinates)."""
        return [self.where, self.depth, self.tilt]


def corner_distance(block: tuple[float, float, float]) -> float:
    """Mean distance of the T's outline corners at ``block`` to theirs at the goal (table units)."""
    corners = t_outline(block)
    return sum(math.dist(a, b) for a, b in zip(corners, GOAL_CORNERS, strict=True)) / len(corners)


class PushPolicy:
    """Proposes ``candidates`` chunks of at least ``horizon`` agent targets; the last one holds the agent still.

    ``info["search"]`` (``{"mean": [...], "std": [...]}`` in :class:`Push` coordinates) is the distribution to
    sample from; without it the pushes are drawn uniformly over the outline, depths and tilts.
    """

    profile = None

    def __init__(self, *, candidates: int, horizon: int, seed: int, name: str = "pusht-push-policy") -> None:
        self.name = name
        self.candidates = candidates
        self.horizon = horizon
        self._random = random.Random(seed)

    def select_actions(self, *, info: dict[str, Any]) -> Any:
        """WorldForge ``Policy`` capability: the candidates for the state (and search distribution) in ``info``."""
        state = TabletopState.from_info(info)
        search = info.get("search")
        pushes = [self._sample(search) for _ in range(self.candidates - 1)]
        chunks = [push_chunk(state, push, self.horizon) for push in pushes]
        chunks.append([state.agent] * self.horizon)  # doing nothing is a candidate too
        return policy_result(self.name, chunks, pushes=[push.as_list() for push in pushes])

    def _sample(self, search: Any) -> Push:
        draw = self._random
        if not isinstance(search, dict):
            return Push(draw.uniform(0.0, PERIMETER), draw.uniform(*DEPTH_RANGE), draw.uniform(*TILT_RANGE))
        (where, depth, tilt), (where_std, depth_std, tilt_std) = search["mean"], search["std"]
        return Push(draw.gauss(where, where_std) % PERIMETER, max(0.5, draw.gauss(depth, depth_std)),
                    draw.gauss(tilt, tilt_std))  # fmt: skip


def push_chunk(state: TabletopState, push: Push, horizon: int) -> Chunk:
    """Agent targets for ``push`` from ``state``: around the T to the contact point, then through it."""
    contact, (nx, ny) = _on_outline(t_outline(state.block), push.where)
    cos, sin = math.cos(push.tilt), math.sin(push.tilt)
    dx, dy = -(nx * cos - ny * sin), -(nx * sin + ny * cos)  # inward, tilted
    start = (contact[0] + nx * (AGENT_RADIUS + CONTACT_GAP), contact[1] + ny * (AGENT_RADIUS + CONTACT_GAP))
    lined_up = (contact[0] + nx * (AGENT_RADIUS + APPROACH_GAP), contact[1] + ny * (AGENT_RADIUS + APPROACH_GAP))
    end = (start[0] + dx * (push.depth + CONTACT_GAP), start[1] + dy * (push.depth + CONTACT_GAP))
    path: list[Point] = []
    if math.dist(state.agent, start) > APPROACH_GAP - 5.0:
        x, y, angle = state.block
        centroid = (x - math.sin(angle) * CENTROID_OFFSET, y + math.cos(angle) * CENTROID_OFFSET)
        path += [*_around(state.agent, lined_up, centroid), lined_up]
    path.append(start)
    pushing = max(2, horizon - len(path))
    path += [(start[0] + (end[0] - start[0]) * (i + 1) / pushing, start[1] + (end[1] - start[1]) * (i + 1) / pushing)
             for i in range(pushing)]  # fmt: skip
    return [_clamp(point) for point in path]


class PhysicsScore:
    """Scores each candidate by rolling it through the physics: corner distance at the end (lower is better)."""

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
            final = self._model.predict(state, chunk)
            predicted.append(pose_error(final.block))
            agent_gap = math.hypot(final.agent[0] - final.block[0], final.agent[1] - final.block[1])
            scores.append(corner_distance(final.block) + AGENT_DISTANCE_WEIGHT * agent_gap)
        best = min(range(len(scores)), key=scores.__getitem__)
        return score_result(self.name, scores, best, metadata={"predicted_pose_errors": predicted})

    def close(self) -> None:
        """Release the model's simulator."""
        self._model.close()


def _on_outline(outline: list[Point], where: float) -> tuple[Point, Point]:
    """The point ``where`` table units along the outline and the outward normal of its edge."""
    remaining = where % PERIMETER
    edges = list(zip(outline, outline[1:] + outline[:1], strict=True))
    for (ax, ay), (bx, by) in edges:
        length = math.dist((ax, ay), (bx, by))
        if remaining <= length or (bx, by) == edges[-1][1]:
            t = min(remaining / length, 1.0)
            return (ax + (bx - ax) * t, ay + (by - ay) * t), ((by - ay) / length, -(bx - ax) / length)
        remaining -= length
    raise AssertionError("unreachable: the last edge ends the outline")


def _around(start: Point, end: Point, center: Point) -> list[Point]:
    """Waypoints on a circle around ``center`` when the straight way from ``start`` to ``end`` would cut the T."""
    ax, ay = start[0] - center[0], start[1] - center[1]
    bx, by = end[0] - center[0], end[1] - center[1]
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, -(ax * dx + ay * dy) / ((dx * dx + dy * dy) or 1e-9)))
    if math.hypot(ax + dx * t, ay + dy * t) >= KEEP_OUT * 0.8:
        return []
    first, last = math.atan2(ay, ax), math.atan2(by, bx)
    turn = (last - first + math.pi) % (2 * math.pi) - math.pi
    legs = max(2, int(abs(turn) / 0.6))
    angles = [first + turn * i / legs for i in range(1, legs)]
    return [(center[0] + KEEP_OUT * math.cos(angle), center[1] + KEEP_OUT * math.sin(angle)) for angle in angles]


def _clamp(point: Point) -> Point:
    return (min(max(point[0], ACTION_LOW), ACTION_HIGH), min(max(point[1], ACTION_LOW), ACTION_HIGH))
