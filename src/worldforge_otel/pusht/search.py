"""The cross-entropy search over pushes: each round samples, the score ranks, the best few narrow the next round.

A planning step runs :attr:`CrossEntropySearch.rounds` rounds. The first samples pushes uniformly (the policy's
prior); after each round the mean and spread of its elite (the best :attr:`elite_fraction` by score) become the
distribution the policy samples from next, so the candidates close in on the best push round by round. The
spread never falls below :data:`MIN_STD`, so a round always explores a little.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from worldforge_otel.pusht.planner import PERIMETER

MIN_STD: Final = (3.0, 1.0, 0.05)  # where (table units), depth (table units), tilt (radians)


@dataclass(frozen=True, slots=True)
class CrossEntropySearch:
    """How a planning step searches: ``rounds`` rounds, refining on the best ``elite_fraction`` of each."""

    rounds: int = 3
    elite_fraction: float = 1 / 6

    def refine(self, pushes: Sequence[Sequence[float]], scores: Sequence[float]) -> dict[str, list[float]]:
        """The next round's distribution (``{"mean": [...], "std": [...]}``) from this round's pushes and scores.

        Lower scores are better. The outline position is circular: its mean is taken on the circle of the
        T's perimeter, so elites on both sides of the first corner average to a point between them.
        """
        ranked = sorted(range(len(pushes)), key=lambda i: scores[i])
        elite = [pushes[i] for i in ranked[: max(2, math.ceil(len(pushes) * self.elite_fraction))]]
        angles = [2 * math.pi * push[0] / PERIMETER for push in elite]
        x, y = statistics.fmean(math.cos(a) for a in angles), statistics.fmean(math.sin(a) for a in angles)
        where = (math.atan2(y, x) / (2 * math.pi) * PERIMETER) % PERIMETER
        where_spread = math.sqrt(max(0.0, -2 * math.log(max(math.hypot(x, y), 1e-12)))) * PERIMETER / (2 * math.pi)
        mean = [where, statistics.fmean(p[1] for p in elite), statistics.fmean(p[2] for p in elite)]
        spread = [where_spread, statistics.pstdev(p[1] for p in elite), statistics.pstdev(p[2] for p in elite)]
        return {"mean": mean, "std": [max(s, floor) for s, floor in zip(spread, MIN_STD, strict=True)]}
