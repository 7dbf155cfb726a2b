"""Docker: the Dockerfile, docker-compose.yml (panel, Prometheus, Grafana) and the
monitoring files the compose file mounts.

Inside the container the "machine" is the container's: the image's own executable,
the project mounted from the host at `/project`, the host's Godot mounted at
`/usr/local/bin/godot`, logs in a named volume. The image holds no Godot (its licence
allows it, but a 4.5 build for the right CPU is the user's choice): the compose file
mounts the one this deployment was rendered for. Without that mount (`docker run`
with no arguments) the image runs the simulated Godot on the bundled demo project.

The API listens on 0.0.0.0 inside the container (a port mapping cannot reach a
loopback listener there) and is published on 127.0.0.1 of the host only. On such a
bind the panel refuses to serve without a management key, so the compose file
requires SPACETIME_PANEL_API_KEY. Godot's own services (bridge HTTP, telemetry, LSP,
DAP, discovery) bind the container's loopback, so they are not published: the
management API proxies what a caller needs from them.

Keys: the management key and Grafana's admin password are Docker secrets made from
the host's environment (`secrets: NAME: environment: VARIABLE`): the user exports the
variable as before, compose writes its value to /run/secrets/NAME in the container,
and the service reads the file (`SPACETIME_PANEL_API_KEY_FILE`,
`GF_SECURITY_ADMIN_PASSWORD__FILE`), so the value is in no image layer and not in
`docker inspect`'s environment (compose copies the file into the container before
starting it, owner-read only; `docker cp` or `docker commit` by a Docker admin still
reach it). Compose cannot make such a secret optional (an unset variable stops `up`,
an empty one is an empty file, which the panel refuses), so the two optional keys,
the read-only key and the bridge's key, stay plain variables that default to empty.

The alert rules and the Grafana dashboard are the monitoring kit's files
(`spacetime_panel/monitoring/`, inside the package), copied unchanged; only
the scrape target and the Grafana data source are written here, for the
compose network.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path, PurePosixPath

from spacetime_panel.deploy.command_line import serve_arguments, stop_wait_seconds
from spacetime_panel.deploy.context import DeployContext, RenderedFile
from spacetime_panel.secrets import BRIDGE_API_KEY, PANEL_API_KEY, PANEL_READ_KEY

#: Where things are inside the image.
CONTAINER_VENV = PurePosixPath("/opt/spacetime-panel/venv")
CONTAINER_EXECUTABLE = CONTAINER_VENV / "bin" / "spacetime-panel"
CONTAINER_PYTHON = CONTAINER_VENV / "bin" / "python"
CONTAINER_PROJECT = PurePosixPath("/project")
CONTAINER_GODOT = PurePosixPath("/usr/local/bin/godot")
CONTAINER_LOG_DIR = PurePosixPath("/var/log/spacetime-panel")
CONTAINER_CONFIG = PurePosixPath("/etc/spacetime-panel/config.toml")
CONTAINER_USER = "spacetime"
#: Every interface inside the container; the host side is published on loopback only.
CONTAINER_API_HOST = "0.0.0.0"  # the container's own network namespace
PUBLISHED_HOST = "127.0.0.1"

#: Pinned by tag, never `latest`: a rebuild must not change what runs.
BASE_IMAGE = "python:3.11-slim-bookworm"
PROMETHEUS_IMAGE = "prom/prometheus:v2.53.2"
GRAFANA_IMAGE = "grafana/grafana:11.2.0"
PROMETHEUS_PORT = 9090
GRAFANA_PORT = 3000
#: The user the Grafana image runs as (Grafana's documented default, 472).
GRAFANA_UID = 472

#: Where compose writes a service's secrets, one file each, named after the secret.
SECRETS_FOLDER = PurePosixPath("/run/secrets")
#: Owner read only; the owner is the account the service runs as (`uid` in the compose file).
SECRET_MODE = 0o400


@dataclasses.dataclass(frozen=True, slots=True)
class ComposeSecret:
    """A Docker secret made from a host environment variable, read through a file variable."""

    name: str  #: the secret in the compose file, and its file in /run/secrets
    variable: str  #: the host's environment variable that holds the value
    file_variable: str  #: the service's variable that names the file

    @property
    def path(self) -> PurePosixPath:
        return SECRETS_FOLDER / self.name


#: The management key: required (the API listens on 0.0.0.0 in the container).
PANEL_KEY_SECRET = ComposeSecret(
    PANEL_API_KEY.name, PANEL_API_KEY.variable, f"{PANEL_API_KEY.variable}_FILE"
)
#: Grafana's admin password (Grafana reads `GF_<SECTION>_<KEY>__FILE`).
GRAFANA_PASSWORD_SECRET = ComposeSecret(
    "grafana_admin_password", "GRAFANA_ADMIN_PASSWORD", "GF_SECURITY_ADMIN_PASSWORD__FILE"
)
COMPOSE_SECRETS = (PANEL_KEY_SECRET, GRAFANA_PASSWORD_SECRET)
#: Optional keys, plain variables that default to empty (see the module's docstring).
OPTIONAL_KEYS = (PANEL_READ_KEY.variable, BRIDGE_API_KEY.variable)

#: The named build context that holds the panel's source tree (pyproject.toml at its root).
SOURCE_CONTEXT = "panel-source"
#: The monitoring kit in the source tree (the alert rules and the dashboard are reused as-is).
MONITORING_KIT = Path(__file__).resolve().parents[1] / "monitoring"
KIT_FILES = {
    "monitoring/alerts.yml": "alerts.yml",
    "monitoring/grafana/provisioning.yml": "grafana/provisioning.yml",
    "monitoring/grafana/spacetime-fleet.json": "grafana/spacetime-fleet.json",
}

#: Debian packages: Xvfb for `serve --xvfb` (a container has no display), tini as PID 1
#: (it reaps the orphans Godot leaves and passes SIGTERM on), and the libraries the
#: Godot Linux binary loads (X11, OpenGL through Mesa's software renderer, fonts).
PACKAGES = (
    "tini",
    "xvfb",
    "xauth",
    "libgl1",
    "libgl1-mesa-dri",
    "libxcursor1",
    "libxinerama1",
    "libxrandr2",
    "libxi6",
    "libxkbcommon0",
    "libfontconfig1",
)


def render_docker(context: DeployContext) -> list[RenderedFile]:
    """The image, the compose file and the monitoring files it mounts."""
    return [
        RenderedFile("Dockerfile", dockerfile(context)),
        RenderedFile("docker-compose.yml", compose_file(context)),
        RenderedFile("monitoring/prometheus.yml", prometheus_config(context)),
        RenderedFile("monitoring/grafana-datasources/prometheus.yml", grafana_datasource()),
        *(RenderedFile(name, kit_file(relative)) for name, relative in KIT_FILES.items()),
    ]


def is_demo(context: DeployContext) -> bool:
    """True when rendered for the simulated Godot (`deploy docker --demo`): the host's
    simulator is a script of the host's Python, so the container uses its own --demo."""
    return PurePosixPath(context.godot).name.startswith("spacetime-godot-sim")


def container_command(context: DeployContext) -> list[str]:
    """`serve`'s arguments inside the container (after the image's entrypoint)."""
    settings = context.settings
    inside = dataclasses.replace(
        context,
        executable=Path(CONTAINER_EXECUTABLE),
        project=Path(CONTAINER_PROJECT),
        godot=str(CONTAINER_GODOT),
        log_dir=Path(CONTAINER_LOG_DIR),
        config=Path(CONTAINER_CONFIG) if context.config is not None else None,
        settings=settings.model_copy(
            update={"api": settings.api.model_copy(update={"host": CONTAINER_API_HOST})}
        ),
    )
    arguments = serve_arguments(inside)
    if is_demo(context):
        # The image's own simulator and demo project instead of the host's.
        arguments = _without(arguments, "--godot-path", "--project-path")
        return [*arguments, "--demo"]
    if "--xvfb" not in arguments:
        arguments.append("--xvfb")
    return arguments


def _without(arguments: list[str], *flags: str) -> list[str]:
    """`arguments` without each of `flags` and the value after it."""
    kept: list[str] = []
    skip = False
    for word in arguments:
        if skip:
            skip = False
        elif word in flags:
            skip = True
        else:
            kept.append(word)
    return kept


def health_check_command(port: int) -> list[str]:
    """The HEALTHCHECK: GET /health with the image's Python (no curl); exit 0 only on 200."""
    script = (
        "import sys, urllib.request\n"
        "try:\n"
        f"    urllib.request.urlopen('http://127.0.0.1:{port}/health', timeout=8)\n"
        "except OSError as error:\n"
        "    sys.exit(f'unhealthy: {error}')"
    )
    return [str(CONTAINER_PYTHON), "-c", script]


def dockerfile(context: DeployContext) -> str:
    settings = context.settings
    port = settings.api.port
    default_command = [
        "serve",
        "--host",
        CONTAINER_API_HOST,
        "--port",
        str(port),
        "--log-dir",
        str(CONTAINER_LOG_DIR),
        "--demo",
    ]
    packages = " \\\n        ".join(PACKAGES)
    start_period = math.ceil(settings.supervisor.start_timeout)
    return f"""\
# syntax=docker/dockerfile:1
# The headless supervisor (`spacetime-panel serve`) in a container
# (made by `spacetime-panel deploy docker`; replaces the guide's Dockerfile).
#
# Build: the panel is installed from its source tree, the named build context
# `{SOURCE_CONTEXT}` (docker-compose.yml passes it; SPACETIME_PANEL_SOURCE moves it):
#   docker build --build-context {SOURCE_CONTEXT}=/path/to/spacetime-panel -t spacetime-panel .
#
# Godot: the image holds none. docker-compose.yml mounts the host's Godot 4.5 at
# {CONTAINER_GODOT} and the project at {CONTAINER_PROJECT}, and runs `serve --xvfb`
# (Xvfb, supervised by the panel, is Godot's display). Without them the default
# command runs the simulated Godot on the bundled demo project (the key file must be
# readable by uid 1000):
#   docker run --rm -p {PUBLISHED_HOST}:{port}:{port} \\
#     -v "$PWD/{PANEL_KEY_SECRET.name}:{PANEL_KEY_SECRET.path}:ro" \\
#     -e {PANEL_KEY_SECRET.file_variable}={PANEL_KEY_SECRET.path} spacetime-panel
#
# Keys: never here (no ARG or ENV holds one). The API listens on {CONTAINER_API_HOST} inside
# the container, so `serve` refuses to start without a management key at run time:
# {PANEL_KEY_SECRET.file_variable} names a file holding it (docker-compose.yml's Docker secret),
# or {PANEL_KEY_SECRET.variable} holds it (`docker inspect` then shows it). The bridge's
# key is {BRIDGE_API_KEY.variable} (or {BRIDGE_API_KEY.variable}_FILE).
FROM {BASE_IMAGE}

# Debian's versions move with security updates and old ones leave the mirror, so the
# packages are not pinned (DL3008); the base image is.
# hadolint ignore=DL3008
RUN apt-get update \\
    && apt-get install -y --no-install-recommends \\
        {packages} \\
    && rm -rf /var/lib/apt/lists/*

# The account the panel and Godot run as. Its uid should own the mounted project
# (docker-compose.yml passes SPACETIME_UID, default 1000).
ARG SPACETIME_UID=1000
RUN useradd --create-home --uid "${{SPACETIME_UID}}" --user-group {CONTAINER_USER} \\
    && mkdir -p {CONTAINER_LOG_DIR} {CONTAINER_PROJECT} \\
    && chown {CONTAINER_USER}:{CONTAINER_USER} {CONTAINER_LOG_DIR} {CONTAINER_PROJECT}

# `{SOURCE_CONTEXT}` is a named build context, not a stage (hadolint knows only stages).
# hadolint ignore=DL3022
COPY --from={SOURCE_CONTEXT} pyproject.toml README.md /src/
# hadolint ignore=DL3022
COPY --from={SOURCE_CONTEXT} spacetime_panel /src/spacetime_panel
# The venv first on PATH: `pip` below is the venv's, and so is every command.
ENV PATH="{CONTAINER_VENV}/bin:$PATH" PYTHONUNBUFFERED=1
RUN python -m venv {CONTAINER_VENV} \\
    && pip install --no-cache-dir /src \\
    && rm -rf /src

# By number: the uid the mounted project is owned by, whatever the host calls it.
USER ${{SPACETIME_UID}}
WORKDIR /home/{CONTAINER_USER}
EXPOSE {port}

# /health answers 200 when healthy and 503 when not; Godot has
# --start-timeout ({settings.supervisor.start_timeout:g} s) to get ready.
HEALTHCHECK --interval=30s --timeout=10s --start-period={start_period}s --retries=3 \\
  CMD {json.dumps(health_check_command(port))}

# SIGTERM (docker stop) makes the panel stop Godot and Xvfb, then exit 0; tini
# passes it on and reaps whatever Godot leaves behind.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--", "{CONTAINER_EXECUTABLE}"]
CMD {json.dumps(default_command)}
"""


def _literal(text: str) -> str:
    """A YAML double-quoted string that compose does not interpolate (`$` doubled)."""
    return json.dumps(text.replace("$", "$$"))


def _flow(words: list[str]) -> str:
    return "[" + ", ".join(_literal(word) for word in words) + "]"


def _bind(source: str, target: PurePosixPath, *, read_only: bool) -> str:
    """A bind mount that fails when the host path is missing (instead of creating it)."""
    return f"""\
      - type: bind
        source: {_literal(source)}
        target: {target}
        read_only: {"true" if read_only else "false"}
        bind:
          create_host_path: false
"""


def _secret_grant(secret: ComposeSecret, uid: str) -> str:
    """A service's `secrets:` entry: the file, owned by the account the service runs as."""
    return f"""\
      - source: {secret.name}
        target: {secret.path}
        uid: "{uid}"
        mode: 0{SECRET_MODE:o}
"""


def _secret_declarations() -> str:
    """The top-level `secrets:`: each made from the host's variable at `up` time."""
    return "".join(
        f"  {secret.name}:\n    environment: {secret.variable}\n" for secret in COMPOSE_SECRETS
    )


def compose_file(context: DeployContext) -> str:
    settings = context.settings
    port = settings.api.port
    mounts = ""
    if not is_demo(context):
        mounts += _bind(context.project.as_posix(), CONTAINER_PROJECT, read_only=False)
        mounts += _bind(context.godot, CONTAINER_GODOT, read_only=True)
    if context.config is not None:
        mounts += _bind(context.config.as_posix(), CONTAINER_CONFIG, read_only=True)
    where = (
        "the simulated Godot on the demo project inside the image"
        if is_demo(context)
        else f"Godot ({context.godot}) on {context.project}, under Xvfb"
    )
    return f"""\
# The headless supervisor with Prometheus and Grafana
# (made by `spacetime-panel deploy docker`; replaces the guide's docker-compose.yml).
# It runs {where}.
#
#   export {PANEL_KEY_SECRET.variable}=...      # required: the management API's key
#   export {GRAFANA_PASSWORD_SECRET.variable}=...       # required: Grafana's admin password
#   export {PANEL_READ_KEY.variable}=...     # optional: the API's read-only key
#   export {BRIDGE_API_KEY.variable}=...            # optional: the bridge's key (Godot)
#   docker compose up --build -d
#
# Keys come from the host's environment at `up` time, never from this file or the
# image. The two required ones are Docker secrets: compose writes each to a file in
# {SECRETS_FOLDER} of its container (owner-read only) and the service reads that file, so
# the value is not in `docker inspect`'s environment. An unset one stops `up` (compose
# names the variable); an empty one is an empty file, which the panel refuses in one line.
# Every port is published once, on {PUBLISHED_HOST} only: the API {port}, Prometheus
# {PROMETHEUS_PORT}, Grafana {GRAFANA_PORT}. For other machines put the nginx site in front.
# Godot's own ports stay inside the container (it binds the container's loopback).
name: spacetime-panel

services:
  spacetime:
    build:
      context: .
      # The panel's source tree (this file sits in packaging/docker of a checkout).
      additional_contexts:
        {SOURCE_CONTEXT}: ${{SPACETIME_PANEL_SOURCE:-../..}}
      args:
        SPACETIME_UID: ${{SPACETIME_UID:-1000}}
    image: spacetime-panel:local
    command: {_flow(container_command(context))}
    environment:
      # Required (the API listens beyond loopback in the container): the secret's file.
      {PANEL_KEY_SECRET.file_variable}: {PANEL_KEY_SECRET.path}
      # Optional, so plain variables (empty when unset): compose cannot make a secret
      # optional. Set, they show in `docker inspect`; the read key opens only reads,
      # the bridge's key guards a bridge that listens on the container's loopback.
      {PANEL_READ_KEY.variable}: ${{{PANEL_READ_KEY.variable}:-}}
      {BRIDGE_API_KEY.variable}: ${{{BRIDGE_API_KEY.variable}:-}}
    secrets:
{_secret_grant(PANEL_KEY_SECRET, "${SPACETIME_UID:-1000}")}    volumes:
{mounts}      - spacetime-logs:{CONTAINER_LOG_DIR}
    ports:
      - "{PUBLISHED_HOST}:{port}:{port}"
    stop_signal: SIGTERM
    # The panel's stop timeout for Godot, then a margin to exit.
    stop_grace_period: {stop_wait_seconds(settings)}s
    restart: unless-stopped

  prometheus:
    image: {PROMETHEUS_IMAGE}
    command: ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
    volumes:
      - ./monitoring/prometheus.yml:/etc/prometheus/prometheus.yml:ro
      - ./monitoring/alerts.yml:/etc/prometheus/alerts.yml:ro
      - prometheus-data:/prometheus
    ports:
      - "{PUBLISHED_HOST}:{PROMETHEUS_PORT}:{PROMETHEUS_PORT}"
    depends_on:
      - spacetime
    restart: unless-stopped

  grafana:
    image: {GRAFANA_IMAGE}
    environment:
      {GRAFANA_PASSWORD_SECRET.file_variable}: {GRAFANA_PASSWORD_SECRET.path}
      GF_USERS_ALLOW_SIGN_UP: "false"
    secrets:
{_secret_grant(GRAFANA_PASSWORD_SECRET, str(GRAFANA_UID))}    volumes:
      - ./monitoring/grafana:/etc/grafana/provisioning/dashboards:ro
      - ./monitoring/grafana-datasources:/etc/grafana/provisioning/datasources:ro
      - grafana-data:/var/lib/grafana
    ports:
      - "{PUBLISHED_HOST}:{GRAFANA_PORT}:{GRAFANA_PORT}"
    depends_on:
      - prometheus
    restart: unless-stopped

volumes:
  spacetime-logs:
  prometheus-data:
  grafana-data:

# Each secret's value is the host's variable of that name when `docker compose up` runs.
secrets:
{_secret_declarations()}"""


def prometheus_config(context: DeployContext) -> str:
    port = context.settings.api.port
    return f"""\
# Prometheus in docker-compose.yml (made by `spacetime-panel deploy docker`): it scrapes
# the panel's /metrics over the compose network. /metrics needs no key (like /health),
# so no key is stored here. The alert rules are the monitoring kit's alerts.yml, unchanged.
# No Alertmanager runs in this compose file: firing alerts show on Prometheus's Alerts page.
global:
  scrape_interval: 15s
  evaluation_interval: 15s

rule_files:
  - alerts.yml

scrape_configs:
  - job_name: spacetime  # alerts.yml's SpaceTimeDown watches up{{job="spacetime"}}
    metrics_path: /metrics
    static_configs:
      - targets: ['spacetime:{port}']
"""


def grafana_datasource() -> str:
    return f"""\
# Grafana's data source in docker-compose.yml (made by `spacetime-panel deploy docker`):
# the compose file's Prometheus. The fleet dashboard picks the default Prometheus source.
apiVersion: 1
datasources:
  - name: Prometheus
    type: prometheus
    uid: spacetime-prometheus
    access: proxy
    url: http://prometheus:{PROMETHEUS_PORT}
    isDefault: true
    editable: false
"""


def kit_file(relative: str) -> str:
    """A file of the monitoring kit, unchanged."""
    path = MONITORING_KIT / relative
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(
            f"the monitoring kit's {relative} is not at {path}: "
            "render the docker target from a source checkout of spacetime-panel"
        ) from None
