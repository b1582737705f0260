"""Policy and score results, and the way back from them to chunks of agent targets.

They are WorldForge objects (``ActionPolicyResult``/``ActionScoreResult``) when worldforge-ai is installed,
:class:`Proposal`/:class:`Ranking` otherwise.

WorldForge actions are ``Action.move_to(x, y, 0)`` in meters (table units x :data:`~.task.METERS_PER_UNIT`).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from worldforge_otel.pusht.task import METERS_PER_UNIT, Chunk


@functools.cache
def worldforge_module() -> Any:
    """``worldforge`` when worldforge-ai is importable (Python >= 3.13), else None; looked up once per process."""
    try:
        return importlib.import_module("worldforge")
    except ImportError:
        return None


@dataclass(frozen=True, slots=True)
class Proposal:
    """The stand-in for ``worldforge.ActionPolicyResult``."""

    provider: str
    action_candidates: list[Chunk]
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Ranking:
    """The stand-in for ``worldforge.ActionScoreResult``."""

    provider: str
    scores: list[float]
    best_index: int
    lower_is_better: bool = True
    metadata: dict[str, Any] = field(default_factory=dict)


def policy_result(provider: str, chunks: list[Chunk], *, pushes: list[list[float]]) -> Any:
    """What a policy returns for ``chunks``; ``pushes`` (the parameters of all but the last, the stay) in metadata."""
    worldforge = worldforge_module()
    metadata = {"candidates": len(chunks), "pushes": pushes}
    if worldforge is None:
        return Proposal(provider, chunks, metadata)
    candidates = [
        [worldforge.Action.move_to(x * METERS_PER_UNIT, y * METERS_PER_UNIT, 0.0) for x, y in chunk] for chunk in chunks
    ]
    return worldforge.ActionPolicyResult(
        provider=provider,
        actions=candidates[0],
        action_candidates=candidates,
        action_horizon=len(chunks[0]),
        metadata=metadata,
    )


def score_result(provider: str, scores: list[float], best_index: int, *, metadata: dict[str, Any]) -> Any:
    """What a score model returns."""
    worldforge = worldforge_module()
    if worldforge is None:
        return Ranking(provider, scores, best_index, metadata=metadata)
    return worldforge.ActionScoreResult(
        provider=provider, scores=scores, best_index=best_index, lower_is_better=True, metadata=metadata
    )


def candidate_chunks(candidates: object) -> list[Chunk]:
    """Chunks in table units from a policy result, its ``action_candidates``, or lists of points."""
    candidates = getattr(candidates, "action_candidates", candidates)
    if not isinstance(candidates, Sequence):
        raise TypeError(f"expected action candidates, got {type(candidates).__name__}")
    return [[_point(action) for action in chunk] for chunk in candidates]


def _point(action: object) -> tuple[float, float]:
    parameters = getattr(action, "parameters", None)
    if isinstance(parameters, dict):  # worldforge.Action.move_to, in meters
        target = parameters["target"]
        return (float(target["x"]) / METERS_PER_UNIT, float(target["y"]) / METERS_PER_UNIT)
    if isinstance(action, Sequence) and len(action) >= 2:
        return (float(action[0]), float(action[1]))
    raise TypeError(f"expected a move_to action or an (x, y) point, got {type(action).__name__}")
