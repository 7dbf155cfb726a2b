"""The deployment targets `spacetime-panel deploy` knows, and where packaging/ keeps each."""

from __future__ import annotations

from spacetime_panel.deploy.ci_kit import render_github_actions, render_gitlab_ci, render_pre_commit
from spacetime_panel.deploy.context import Renderer
from spacetime_panel.deploy.docker import render_docker
from spacetime_panel.deploy.services import (
    render_nssm,
    render_supervisord,
    render_systemd,
    render_systemd_user,
)
from spacetime_panel.deploy.web import render_logrotate, render_nginx

TARGETS: dict[str, Renderer] = {
    "systemd": render_systemd,
    "systemd-user": render_systemd_user,
    "supervisord": render_supervisord,
    "nssm": render_nssm,
    "nginx": render_nginx,
    "logrotate": render_logrotate,
    "docker": render_docker,
    "github-actions": render_github_actions,
    "gitlab-ci": render_gitlab_ci,
    "pre-commit": render_pre_commit,
}

#: The folder under packaging/ that holds a target's reference rendering (default: its name).
PACKAGING_FOLDERS: dict[str, str] = {
    "nssm": "windows",
    "github-actions": "ci",
    "gitlab-ci": "ci",
    "pre-commit": "ci",
}


def packaging_folder(target: str) -> str:
    """The folder under packaging/ with `target`'s files rendered from the reference defaults."""
    return PACKAGING_FOLDERS.get(target, target)
