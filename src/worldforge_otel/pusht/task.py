"""The PushT task on gym-pusht's real pymunk physics: state, T-block geometry, pose error, model rollouts.

A circular agent (radius 15) pushes a T-shaped block on a 512 x 512 table; the goal pose of the T is
``(256, 256, pi/4)``. The agent follows a target point through a PD controller, and one control step is
0.1 s (10 physics substeps). Coordinates here are gym-pusht's table units; :data:`METERS_PER_UNIT` maps them
to a 0.512 m table for the 3D views.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

Point = tuple[float, float]
Chunk = list[Point]

GOAL_POSE: Final = (256.0, 256.0, math.pi / 4)
TABLE_BOUNDS: Final = (5.0, 5.0, 506.0, 506.0)  # the walls
ACTION_LOW: Final = 10.0
ACTION_HIGH: Final = 502.0
AGENT_RADIUS: Final = 15.0
METERS_PER_UNIT: Final = 0.001
ANGLE_WEIGHT: Final = 60.0  # table units per radian of orientation error
# The T in the block's own frame (gym-pusht's add_tee with scale 30, length 4), counter-clockwise.
T_OUTLINE: Final[tuple[Point, ...]] = (
    (-60.0, 0.0), (60.0, 0.0), (60.0, 30.0), (15.0, 30.0), (15.0, 120.0), (-15.0, 120.0), (-15.0, 30.0), (-60.0, 30.0),
)  # fmt: skip


def missing_extra(package: str) -> str:
    """What to say when ``package`` (of the ``pusht`` extra) is not installed."""
    return f"the PushT showcase needs {package}; install the pusht extra: pip install 'worldforge-otel[pusht]'"


@dataclass(frozen=True, slots=True)
class TabletopState:
    """Everything the physics needs to continue from a moment: agent and block poses and velocities."""

    agent: Point
    agent_velocity: Point
    block: tuple[float, float, float]  # x, y, angle (radians)
    block_velocity: Point
    block_angular_velocity: float

    def to_info(self, **extra: object) -> dict[str, Any]:
        """A JSON document (WorldForge's ``info``) holding this state."""
        return {
            "agent": list(self.agent), "agent_velocity": list(self.agent_velocity), "block": list(self.block),
            "block_velocity": list(self.block_velocity), "block_angular_velocity": self.block_angular_velocity,
            "goal": list(GOAL_POSE), **extra,
        }  # fmt: skip

    @classmethod
    def from_info(cls, info: dict[str, Any]) -> TabletopState:
        """The state stored by :meth:`to_info`."""
        keys = ("agent", "agent_velocity", "block", "block_velocity")
        agent, velocity, block, block_velocity = (info[key] for key in keys)
        return cls(
            agent=(float(agent[0]), float(agent[1])),
            agent_velocity=(float(velocity[0]), float(velocity[1])),
            block=(float(block[0]), float(block[1]), float(block[2])),
            block_velocity=(float(block_velocity[0]), float(block_velocity[1])),
            block_angular_velocity=float(info["block_angular_velocity"]),
        )


def angle_difference(a: float, b: float) -> float:
    """``a - b`` wrapped to ``[-pi, pi)``."""
    return (a - b + math.pi) % (2 * math.pi) - math.pi


def pose_error(block: Sequence[float], goal: Sequence[float] = GOAL_POSE) -> float:
    """Distance of the block to its goal pose: table units plus :data:`ANGLE_WEIGHT` per radian."""
    distance = math.hypot(block[0] - goal[0], block[1] - goal[1])
    return distance + ANGLE_WEIGHT * abs(angle_difference(block[2], goal[2]))


def t_outline(pose: Sequence[float]) -> list[Point]:
    """The T's outline at ``pose`` (x, y, angle), counter-clockwise, in table units."""
    x, y, angle = pose[0], pose[1], pose[2]
    cos, sin = math.cos(angle), math.sin(angle)
    return [(x + cos * px - sin * py, y + sin * px + cos * py) for px, py in T_OUTLINE]


def load_gym_pusht() -> Any:
    """Import gym-pusht (registers ``gym_pusht/PushT-v0``); ImportError with the install hint when missing."""
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # pygame prints a banner on import otherwise
    try:
        from gym_pusht.envs import pusht
    except ImportError as error:
        raise ImportError(missing_extra("gym-pusht")) from error
    return pusht


class PushTSimulator:
    """One gym-pusht environment: the real task (``execute``) or, restored to a state, a model (``rollout``)."""

    def __init__(self, *, seed: int) -> None:
        self._env = load_gym_pusht().PushTEnv(obs_type="state")
        self._env.reset(seed=seed)
        self.coverage = float(self._env._get_coverage())

    def state(self) -> TabletopState:
        """The current state, read from the pymunk bodies."""
        agent, block = self._env.agent, self._env.block
        return TabletopState(
            agent=(float(agent.position.x), float(agent.position.y)),
            agent_velocity=(float(agent.velocity.x), float(agent.velocity.y)),
            block=(float(block.position.x), float(block.position.y), float(block.angle)),
            block_velocity=(float(block.velocity.x), float(block.velocity.y)),
            block_angular_velocity=float(block.angular_velocity),
        )

    def restore(self, state: TabletopState) -> None:
        """Put the bodies in ``state`` (the angle before the position, so the T's origin lands exactly)."""
        agent, block = self._env.agent, self._env.block
        agent.position, agent.velocity = state.agent, state.agent_velocity
        block.angle = state.block[2]
        block.position = state.block[:2]
        block.velocity, block.angular_velocity = state.block_velocity, state.block_angular_velocity

    def execute(self, chunk: Sequence[Point]) -> TabletopState:
        """Step the environment through ``chunk`` (one agent target per 0.1 s control step)."""
        import numpy as np

        for target in chunk:
            _, _, _, _, info = self._env.step(np.asarray(target, dtype=np.float64))
            self.coverage = float(info["coverage"])
        return self.state()

    def predict(self, state: TabletopState, chunk: Sequence[Point]) -> TabletopState:
        """Where ``chunk`` leads from ``state``, as a model predicts it.

        Restore, then the same PD control and physics substeps as ``env.step``, without what a model does not
        need (coverage, observation, reward), so about 2.5x faster.
        """
        self.restore(state)
        env = self._env
        agent, space, dt, k_p, k_v = env.agent, env.space, env.dt, env.k_p, env.k_v
        substeps = int(1 / (dt * env.control_hz))
        for target_x, target_y in chunk:
            for _ in range(substeps):
                x, y = agent.position
                vx, vy = agent.velocity
                agent.velocity = (vx + (k_p * (target_x - x) - k_v * vx) * dt,
                                  vy + (k_p * (target_y - y) - k_v * vy) * dt)  # fmt: skip
                space.step(dt)
        return self.state()

    def close(self) -> None:
        """Release the environment."""
        self._env.close()
