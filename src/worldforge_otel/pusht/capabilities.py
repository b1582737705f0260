"""Calling the policy and the score, one provider event per call.

Through ``WorldForge`` when worldforge-ai is installed, so the ``ProviderEvent``s are the real ones; else
through a stand-in that times each call and emits the same event.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter
from typing import Any, TypeVar

from worldforge_otel.demo import DemoEvent
from worldforge_otel.pusht.planner import PhysicsScore, PushPolicy
from worldforge_otel.pusht.results import worldforge_module

T = TypeVar("T")


class CapabilityCalls:
    """``select_actions`` / ``score_actions`` with one provider event per call sent to ``handler``."""

    def __init__(self, policy: PushPolicy, score: PhysicsScore, handler: Callable[[Any], None]) -> None:
        self.policy = policy
        self.score = score
        self._handler = handler
        worldforge = worldforge_module()
        self._forge: Any = None
        if worldforge is not None:
            self._forge = worldforge.WorldForge(event_handler=handler, auto_register_remote=False)
            self._forge.register_policy(policy)
            self._forge.register_cost(score)
            self.source = f"WorldForge {getattr(worldforge, '__version__', '')} capability providers".replace("  ", " ")
        else:
            self.source = "built-in capability calls (install worldforge-otel[worldforge] on Python >= 3.13)"

    def select_actions(self, info: dict[str, Any]) -> Any:
        """The policy's candidates for ``info``."""
        if self._forge is not None:
            return self._forge.select_actions(policy=self.policy.name, info=info)
        return self._timed(self.policy.name, "policy", lambda: self.policy.select_actions(info=info))

    def score_actions(self, info: dict[str, Any], candidates: object) -> Any:
        """The score model's ranking of ``candidates``."""
        if self._forge is not None:
            return self._forge.score_actions(cost=self.score.name, info=info, action_candidates=candidates)
        return self._timed(
            self.score.name, "score", lambda: self.score.score_actions(info=info, action_candidates=candidates)
        )

    def _timed(self, provider: str, operation: str, call: Callable[[], T]) -> T:
        started = perf_counter()
        try:
            result = call()
        except Exception as error:
            self._emit(provider, operation, "failure", started, str(error))
            raise
        self._emit(provider, operation, "success", started)
        return result

    def _emit(self, provider: str, operation: str, phase: str, started: float, message: str = "") -> None:
        duration_ms = max(0.1, (perf_counter() - started) * 1000)  # as WorldForge's observable capability does
        self._handler(DemoEvent(provider, operation, phase, duration_ms=duration_ms, message=message))
