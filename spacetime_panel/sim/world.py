"""The simulated game: scene loading, the player, frame timing and the VR pose.

Pure state driven by an explicit clock (seconds, any monotonic origin), in the
sans-I/O style: servers call :meth:`World.advance` with the current time, read
snapshots, and drain the events the world produced (``scene_loaded``,
``player_spawned``). Nothing here sleeps, reads a clock or touches a socket.
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

Vector3 = tuple[float, float, float]
Quaternion = tuple[float, float, float, float]

SPAWN_POINT: Vector3 = (0.0, 0.0, 2.0)
TARGET_FPS = 90.0
HEAD_HEIGHT = 1.7


class SceneState(enum.Enum):
    """Where the current scene is in its life."""

    NONE = "none"
    LOADING = "loading"
    LOADED = "loaded"


@dataclass(frozen=True)
class WorldEvent:
    """Something that happened in the game, as a telemetry event name and payload."""

    name: str
    data: dict[str, Any]


def quat_multiply(a: Quaternion, b: Quaternion) -> Quaternion:
    """Hamilton product ``a * b`` of (x, y, z, w) quaternions."""
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return (
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
        aw * bw - ax * bx - ay * by - az * bz,
    )


def quat_from_euler(yaw: float, pitch: float, roll: float = 0.0) -> Quaternion:
    """Unit quaternion for yaw (about +Y), then pitch (about +X), then roll (about +Z)."""
    q_yaw = (0.0, math.sin(yaw / 2), 0.0, math.cos(yaw / 2))
    q_pitch = (math.sin(pitch / 2), 0.0, 0.0, math.cos(pitch / 2))
    q_roll = (0.0, 0.0, math.sin(roll / 2), math.cos(roll / 2))
    x, y, z, w = quat_multiply(quat_multiply(q_yaw, q_pitch), q_roll)
    norm = math.sqrt(x * x + y * y + z * z + w * w)
    return (x / norm, y / norm, z / norm, w / norm)


def _pose(position: Vector3, rotation: Quaternion) -> dict[str, list[float]]:
    return {
        "position": [round(c, 5) for c in position],
        "rotation": [round(c, 6) for c in rotation],
    }


class World:
    """Scene and player state plus generated frame timings and tracking poses.

    Loading a scene takes ``load_delay`` seconds; the player spawns
    ``spawn_delay`` seconds after the scene is in (never, if ``spawn_player``
    is False). A new load while loading replaces the pending one. A load given
    ``load_errors`` fails when it would have finished, as Godot's does: those
    ``error`` events, and the scene (and player) from before the load stay.
    """

    def __init__(
        self,
        *,
        now: float,
        load_delay: float,
        spawn_delay: float,
        spawn_player: bool = True,
        seed: int | None = None,
    ) -> None:
        self._t0 = now
        self._load_delay = load_delay
        self._spawn_delay = spawn_delay
        self._spawn_player = spawn_player
        self._spawn_withheld = False
        self._rng = random.Random(seed)
        self._events: list[WorldEvent] = []
        self.state = SceneState.NONE
        self.scene_path: str | None = None
        self._loaded_at: float | None = None
        self._ready_at: float | None = None
        self.player_position: Vector3 | None = None
        self._load_errors: tuple[dict[str, Any], ...] = ()
        #: What a failed load goes back to: state, scene, player, the time it loaded.
        self._before: tuple[SceneState, str | None, Vector3 | None, float | None] | None = None

    # -- scene and player -------------------------------------------------

    @property
    def scene_name(self) -> str | None:
        """The scene's file stem, as Godot names the root node ("vr_main")."""
        return PurePosixPath(self.scene_path).stem if self.scene_path else None

    def load(self, res_path: str, now: float, load_errors: Sequence[dict[str, Any]] = ()) -> None:
        """Start loading ``res_path``; the player is gone until it spawns again.

        With ``load_errors`` the load fails when due (see the class).
        """
        self.advance(now)
        if self.state is not SceneState.LOADING:
            self._before = (self.state, self.scene_path, self.player_position, self._loaded_at)
        self._load_errors = tuple(load_errors)
        self.state = SceneState.LOADING
        self.scene_path = res_path
        self._ready_at = now + self._load_delay
        self._loaded_at = None
        self.player_position = None

    def reload(self, now: float, load_errors: Sequence[dict[str, Any]] = ()) -> bool:
        """Load the current (or pending) scene again; False when there is none."""
        if self.scene_path is None:
            return False
        self.load(self.scene_path, now, load_errors)
        return True

    def advance(self, now: float) -> None:
        """Apply every transition due by ``now``, in order, recording events."""
        if (
            self.state is SceneState.LOADING
            and self._ready_at is not None
            and now >= self._ready_at
            and self._load_errors
        ):
            self._events += [WorldEvent("error", dict(error)) for error in self._load_errors]
            self._load_errors = ()
            self._ready_at = None
            state, path, player, loaded_at = self._before or (SceneState.NONE, None, None, None)
            self.state, self.scene_path, self.player_position = state, path, player
            self._loaded_at = loaded_at
        if (
            self.state is SceneState.LOADING
            and self._ready_at is not None
            and now >= self._ready_at
        ):
            self.state = SceneState.LOADED
            self._loaded_at = self._ready_at
            self._events.append(
                WorldEvent("scene_loaded", {"name": self.scene_name, "path": self.scene_path})
            )
        if (
            self.state is SceneState.LOADED
            and self._spawn_player
            and self.player_position is None
            and self._loaded_at is not None
            and now >= self._loaded_at + self._spawn_delay
        ):
            self.player_position = SPAWN_POINT
            self._events.append(WorldEvent("player_spawned", {"position": list(SPAWN_POINT)}))
        elif (
            self.state is SceneState.LOADED
            and not self._spawn_player
            and not self._spawn_withheld
            and self._loaded_at is not None
            and now >= self._loaded_at + self._spawn_delay
        ):
            # Said once, when the spawn would have happened: tests wait for this line.
            self._spawn_withheld = True
            message = "player spawn withheld (SPACETIME_SIM_NO_PLAYER)"
            self._events.append(WorldEvent("log", {"level": "warning", "message": message}))

    def drain_events(self) -> list[WorldEvent]:
        """Events since the last drain, oldest first."""
        events, self._events = self._events, []
        return events

    def scene_snapshot(self) -> dict[str, Any]:
        """``GET /scene``: loaded, loading, name, path."""
        return {
            "loaded": self.state is SceneState.LOADED,
            "loading": self.state is SceneState.LOADING,
            "name": self.scene_name,
            "path": self.scene_path,
        }

    def player_snapshot(self) -> dict[str, Any]:
        """``GET /player``: spawned and position (null until spawned)."""
        position = self.player_position
        return {"spawned": position is not None, "position": list(position) if position else None}

    # -- frame timing and tracking ---------------------------------------

    def fps_sample(self) -> dict[str, float]:
        """One ``fps`` telemetry payload: ~90 fps, a little jitter, a rare slow frame."""
        rng = self._rng
        if rng.random() < 1 / 400:
            frame_time = rng.uniform(14.0, 24.0)
            process_time = frame_time * rng.uniform(0.55, 0.75)
            physics_time = rng.uniform(2.0, 4.0)
        else:
            fps = TARGET_FPS - abs(rng.gauss(0.0, 0.25))
            frame_time = 1000.0 / fps
            process_time = max(0.5, rng.gauss(4.2, 0.35))
            physics_time = max(0.2, rng.gauss(1.1, 0.15))
        return {
            "fps": round(1000.0 / frame_time, 3),
            "frame_time_ms": round(frame_time, 3),
            "process_time_ms": round(process_time, 3),
            "physics_time_ms": round(physics_time, 3),
        }

    def tracking_sample(self, now: float) -> dict[str, Any]:
        """One ``vr_tracking`` payload: a standing player looking around, hands moving."""
        t = now - self._t0
        ox, oy, oz = self.player_position or SPAWN_POINT
        head: Vector3 = (
            ox + 0.25 * math.sin(0.50 * t),
            oy + HEAD_HEIGHT + 0.03 * math.sin(1.30 * t),
            oz + 0.20 * math.sin(0.37 * t),
        )
        yaw = 0.6 * math.sin(0.4 * t)
        head_rot = quat_from_euler(yaw, 0.15 * math.sin(0.7 * t), 0.05 * math.sin(0.9 * t))
        hands = {}
        for side, sign in (("left_controller", -1.0), ("right_controller", 1.0)):
            swing = math.sin(1.1 * t + (0.0 if sign < 0 else 1.7))
            # Hands hang in front of the body and follow the head's yaw.
            local_x = sign * 0.22 + 0.05 * swing
            local_z = -0.30 + 0.08 * math.cos(0.8 * t + sign)
            position: Vector3 = (
                head[0] + local_x * math.cos(yaw) + local_z * math.sin(yaw),
                head[1] - 0.45 + 0.10 * swing,
                head[2] - local_x * math.sin(yaw) + local_z * math.cos(yaw),
            )
            rotation = quat_from_euler(yaw + 0.2 * sign, -0.5 + 0.3 * swing, sign * 0.3)
            hands[side] = _pose(position, rotation)
        return {"headset": _pose(head, head_rot), **hands}
