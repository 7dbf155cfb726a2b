"""Server files rendered for this machine: `spacetime-panel deploy TARGET`.

Each target (systemd, supervisord, nginx, docker, CI, ...) is a renderer: a function
from a `DeployContext` (the installed executable, the project, Godot, the log folder,
the user, the settings) to the files it writes. `targets.TARGETS` names them.
`packaging/` holds what they render with `DeployContext.reference()`.
"""
