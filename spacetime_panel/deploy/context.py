"""What every renderer is given (`DeployContext`) and what it returns (`RenderedFile`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from spacetime_panel.config import Settings


@dataclass(frozen=True, slots=True)
class RenderedFile:
    name: str  # file name relative to the output folder, e.g. "spacetime-panel.service"
    text: str


@dataclass(frozen=True, slots=True)
class DeployContext:
    executable: Path  # the installed spacetime-panel
    project: Path  # the Godot project folder
    godot: str  # the Godot executable (path or name on PATH)
    log_dir: Path
    user: str
    serve_args: tuple[str, ...]  # extra `serve` arguments (after --)
    settings: Settings  # ports, api host/port, timeouts (spacetime_panel.config)
    #: The config file `serve` should read (the one given to `deploy --config`), if any.
    config: Path | None = field(default=None)
    #: The user's group (for file ownership, e.g. logrotate's `su`); empty: named as the user.
    group: str = field(default="")
    #: The user's home folder (supervisord does not set HOME); None: /home/USER.
    home: Path | None = field(default=None)

    @property
    def user_home(self) -> Path:
        return self.home or Path("/home") / self.user

    @classmethod
    def reference(cls) -> DeployContext:
        """The documented defaults that packaging/ is rendered with."""
        return cls(
            executable=Path(REFERENCE_EXECUTABLE),
            project=Path(REFERENCE_PROJECT),
            godot=REFERENCE_GODOT,
            log_dir=Path(REFERENCE_LOG_DIR),
            user=REFERENCE_USER,
            serve_args=("--auto-load-scene",),
            settings=Settings(),
        )


REFERENCE_EXECUTABLE = "/opt/spacetime-panel/.venv/bin/spacetime-panel"
REFERENCE_PROJECT = "/opt/spacetime-panel/project"
REFERENCE_GODOT = "/usr/local/bin/godot"
REFERENCE_LOG_DIR = "/var/log/spacetime-panel"
REFERENCE_USER = "spacetime"

Renderer = Callable[[DeployContext], list[RenderedFile]]


class DeployError(ValueError):
    """A context that a target cannot render; its message is one line for the user."""
