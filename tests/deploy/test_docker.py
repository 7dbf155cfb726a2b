"""Docker: hadolint accepts the Dockerfile, the compose file fits the Compose Specification's
JSON Schema, promtool accepts the Prometheus config, each port is published once on
127.0.0.1, no key is baked in, and the health check answers as Docker expects.

Docker itself is not run here (no daemon on the test machines): the image is never built.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from spacetime_panel.cli import build_parser
from spacetime_panel.config import ApiSettings, Settings
from spacetime_panel.deploy.context import DeployContext, RenderedFile
from spacetime_panel.deploy.docker import (
    COMPOSE_SECRETS,
    CONTAINER_CONFIG,
    CONTAINER_GODOT,
    CONTAINER_PROJECT,
    CONTAINER_PYTHON,
    GRAFANA_UID,
    KIT_FILES,
    MONITORING_KIT,
    OPTIONAL_KEYS,
    PANEL_KEY_SECRET,
    SOURCE_CONTEXT,
    health_check_command,
    render_docker,
)
from spacetime_panel.secrets import PANEL_API_KEY
from tests.conftest import TIME_SCALE, free_port
from tests.deploy.conftest import run_tool, tool
from tests.integration.conftest import PANEL, Serve
from tests.integration.test_install_addon_wheel import build_isolation

REPOSITORY = Path(__file__).resolve().parents[2]
PACKAGING_DOCKER = REPOSITORY / "packaging" / "docker"
#: The Compose Specification's own schema (compose-spec/compose-spec), vendored with its
#: checksum by check-jsonschema.
COMPOSE_SCHEMA = "vendor.compose-spec"


def write(files: list[RenderedFile], folder: Path) -> Path:
    for file in files:
        target = folder / file.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(file.text, encoding="utf-8")
    return folder


def text_of(files: list[RenderedFile], name: str) -> str:
    return next(file.text for file in files if file.name == name)


def compose_of(files: list[RenderedFile]) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(text_of(files, "docker-compose.yml"))
    return loaded


def hadolint(dockerfile: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """hadolint at its default failure threshold (any rule, info and up, fails)."""
    path = folder / "Dockerfile"
    path.write_text(dockerfile, encoding="utf-8")
    return run_tool(tool("hadolint"), "--no-color", path)


def check_compose(compose: str, folder: Path) -> subprocess.CompletedProcess[str]:
    path = folder / "docker-compose.yml"
    path.write_text(compose, encoding="utf-8")
    return run_tool(tool("check-jsonschema"), "--builtin-schema", COMPOSE_SCHEMA, path)


def contexts(machine: DeployContext, tmp_path: Path) -> Iterator[tuple[str, DeployContext]]:
    """The reference, this machine (the simulator: the image's --demo), a real-looking
    Godot with a config file and other ports."""
    yield "reference", DeployContext.reference()
    yield "demo", machine
    config = tmp_path / "my config.toml"
    config.write_text("", encoding="utf-8")
    yield (
        "godot",
        dataclasses.replace(
            machine,
            godot="/opt/godot/Godot_v4.5.1-stable_linux.x86_64",
            config=config,
            settings=Settings(api=ApiSettings(port=9123)),
            serve_args=("--auto-load-scene", "--editor"),
        ),
    )


def all_contexts(machine: DeployContext, tmp_path: Path) -> list[DeployContext]:
    return [context for _, context in contexts(machine, tmp_path)]


# --- the tools' verdicts ---------------------------------------------------------------


def test_hadolint_accepts_the_dockerfile(machine: DeployContext, tmp_path: Path) -> None:
    for name, context in contexts(machine, tmp_path):
        result = hadolint(text_of(render_docker(context), "Dockerfile"), tmp_path)
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"


def test_hadolint_rejects_a_careless_dockerfile(tmp_path: Path) -> None:
    """The check can fail: an unpinned base image, a pip cache, recommended packages
    and root are each flagged."""
    dockerfile = text_of(render_docker(DeployContext.reference()), "Dockerfile")
    for change, rule in (
        (("FROM python:3.11-slim-bookworm", "FROM python:latest"), "DL3007"),
        (("pip install --no-cache-dir", "pip install"), "DL3042"),
        (("apt-get install -y --no-install-recommends", "apt-get install -y"), "DL3015"),
        (("USER ${SPACETIME_UID}", "USER root"), "DL3002"),
    ):
        assert change[0] in dockerfile
        result = hadolint(dockerfile.replace(*change), tmp_path)
        assert result.returncode != 0
        assert rule in result.stdout, result.stdout


def test_the_compose_file_fits_the_compose_specification(
    machine: DeployContext, tmp_path: Path
) -> None:
    for name, context in contexts(machine, tmp_path):
        result = check_compose(text_of(render_docker(context), "docker-compose.yml"), tmp_path)
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"
        assert "validation done" in result.stdout


def test_the_schema_rejects_a_broken_compose_file(tmp_path: Path) -> None:
    """The check can fail: a misspelt key and a port that is a mapping of nonsense."""
    compose = text_of(render_docker(DeployContext.reference()), "docker-compose.yml")
    for change in (
        ("    restart: unless-stopped", "    restrat: unless-stopped"),
        ("    stop_grace_period: 30s", "    stop_grace_period: [30]"),
        ("      - type: bind", "      - type: bindd"),
        ("    environment: SPACETIME_PANEL_API_KEY", "    env: SPACETIME_PANEL_API_KEY"),
        ("        mode: 0400", "        mode: [0400]"),
    ):
        assert change[0] in compose
        result = check_compose(compose.replace(*change, 1), tmp_path)
        assert result.returncode == 1, f"{change[1]!r} accepted: {result.stdout}"
        assert "Schema validation errors" in result.stdout


def test_the_schema_is_the_compose_specification() -> None:
    """Not a schema of ours: check-jsonschema's vendored copy of compose-spec's."""
    result = run_tool(tool("check-jsonschema"), "--help")
    assert COMPOSE_SCHEMA in result.stdout
    import check_jsonschema

    vendored = Path(check_jsonschema.__file__).parent / "builtin_schemas" / "vendor"
    schema = json.loads((vendored / "compose-spec.json").read_text(encoding="utf-8"))
    assert schema["title"] == "Compose Specification"
    assert schema["additionalProperties"] is False  # unknown top-level keys are refused


def test_promtool_accepts_the_prometheus_config(machine: DeployContext, tmp_path: Path) -> None:
    for name, context in contexts(machine, tmp_path):
        folder = write(render_docker(context), tmp_path / name)
        result = run_tool(
            tool("promtool"), "check", "config", folder / "monitoring" / "prometheus.yml"
        )
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"
        assert "SUCCESS: 1 rule files found" in result.stdout  # alerts.yml, beside it
        assert "SUCCESS: 8 rules found" in result.stdout


def test_promtool_rejects_a_broken_prometheus_config(tmp_path: Path) -> None:
    folder = write(render_docker(DeployContext.reference()), tmp_path)
    config = folder / "monitoring" / "prometheus.yml"
    config.write_text(
        config.read_text(encoding="utf-8").replace("scrape_interval: 15s", "scrape_interval: 15"),
        encoding="utf-8",
    )
    result = run_tool(tool("promtool"), "check", "config", config)
    assert result.returncode != 0


# --- what the files say ----------------------------------------------------------------


def published(compose: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(service, host address, host port, container port) of every `ports:` entry."""
    found: list[tuple[str, str, str, str]] = []
    for service, definition in compose["services"].items():
        for entry in definition.get("ports", []):
            assert isinstance(entry, str), f"{service}: {entry!r} is not HOST:PORT:PORT"
            match = re.fullmatch(r"([\d.]+):(\d+):(\d+)(?:/(?:tcp|udp))?", entry)
            assert match, f"{service}: {entry!r} does not name the host address"
            found.append((service, match.group(1), match.group(2), match.group(3)))
    return found


def test_each_port_is_published_once_on_loopback(machine: DeployContext, tmp_path: Path) -> None:
    for context in all_contexts(machine, tmp_path):
        mappings = published(compose_of(render_docker(context)))
        api = str(context.settings.api.port)
        assert ("spacetime", "127.0.0.1", api, api) in mappings
        assert {address for _, address, _, _ in mappings} == {"127.0.0.1"}
        twice = [port for port, n in Counter(host for _, _, host, _ in mappings).items() if n > 1]
        assert not twice, f"published more than once: {twice}"
        # Godot's services bind the container's loopback: publishing them would map nothing.
        assert [service for service, *_ in mappings].count("spacetime") == 1


def test_the_api_port_is_the_same_everywhere(machine: DeployContext, tmp_path: Path) -> None:
    for context in all_contexts(machine, tmp_path):
        files = render_docker(context)
        port = context.settings.api.port
        dockerfile = text_of(files, "Dockerfile")
        command = compose_of(files)["services"]["spacetime"]["command"]
        assert command[command.index("--port") + 1] == str(port)
        assert command[command.index("--host") + 1] == "0.0.0.0"
        assert f"\nEXPOSE {port}\n" in dockerfile
        assert f"http://127.0.0.1:{port}/health" in dockerfile
        assert f"targets: ['spacetime:{port}']" in text_of(files, "monitoring/prometheus.yml")


def test_no_key_is_baked_in(machine: DeployContext, tmp_path: Path) -> None:
    for context in all_contexts(machine, tmp_path):
        files = render_docker(context)
        for line in text_of(files, "Dockerfile").splitlines():
            if re.match(r"\s*(ARG|ENV)\b", line):
                assert not re.search(r"(?i)key|password|secret|token", line), line
        services = compose_of(files)["services"]
        # Only the optional keys are plain variables, empty unless the host sets them.
        environment = services["spacetime"]["environment"]
        for variable in OPTIONAL_KEYS:
            assert environment[variable] == "${" + variable + ":-}", variable
        assert "build" not in services["grafana"]
        assert "secret" not in json.dumps(services["spacetime"]["build"]).lower()


def test_a_key_value_is_in_no_rendered_file(
    machine: DeployContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host's keys at render time end up in no file (compose reads them at `up`)."""
    values = {
        variable: f"value-of-{variable.lower()}-d41d8cd9"
        for variable in (*(s.variable for s in COMPOSE_SECRETS), *OPTIONAL_KEYS)
    }
    for variable, value in values.items():
        monkeypatch.setenv(variable, value)
    for context in all_contexts(machine, tmp_path):
        for file in render_docker(context):
            for value in values.values():
                assert value not in file.text, f"{file.name} holds {value}"


def test_the_required_keys_are_docker_secrets(machine: DeployContext, tmp_path: Path) -> None:
    """The management key and Grafana's password reach their containers as files in
    /run/secrets made from the host's variables: no service's `environment:` holds them,
    and each `*_FILE` variable names the file of a secret granted to that service."""
    for context in all_contexts(machine, tmp_path):
        compose = compose_of(render_docker(context))
        declared = compose["secrets"]
        assert declared == {s.name: {"environment": s.variable} for s in COMPOSE_SECRETS}
        granted_anywhere: set[str] = set()
        for service, definition in compose["services"].items():
            environment = definition.get("environment", {})
            assert isinstance(environment, dict), f"{service}: environment is not a mapping"
            grants = {grant["source"]: grant for grant in definition.get("secrets", [])}
            assert set(grants) <= set(declared), f"{service}: undeclared secret"
            granted_anywhere |= set(grants)
            for variable, value in environment.items():
                for secret in COMPOSE_SECRETS:
                    assert variable != secret.variable, f"{service}: {variable} in environment"
                    assert "${" + secret.variable not in str(value), f"{service}: {variable}"
                assert variable not in ("GF_SECURITY_ADMIN_PASSWORD", PANEL_API_KEY.variable)
                if variable.endswith("_FILE"):
                    # /run/secrets/NAME of a secret granted to this very service.
                    path = PurePosixPath(value)
                    assert path.parent == PurePosixPath("/run/secrets"), f"{variable}={value}"
                    assert path.name in grants, f"{service}: {variable}={value} is not granted"
                    assert grants[path.name]["target"] == value
        assert granted_anywhere == set(declared), "a declared secret no service uses"
        spacetime = compose["services"]["spacetime"]["environment"]
        assert spacetime[PANEL_KEY_SECRET.file_variable] == "/run/secrets/panel_api_key"
        grafana = compose["services"]["grafana"]["environment"]
        assert grafana["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/run/secrets/grafana_admin_password"


def test_each_secret_file_is_readable_by_its_service_alone(machine: DeployContext) -> None:
    """Owner-read only (0400), owned by the account the service runs as: the image's
    SPACETIME_UID (the same default as its build argument) and Grafana's user 472."""
    files = render_docker(machine)
    compose = compose_of(files)
    dockerfile = text_of(files, "Dockerfile")
    build_uid = compose["services"]["spacetime"]["build"]["args"]["SPACETIME_UID"]
    assert "\nUSER ${SPACETIME_UID}\n" in dockerfile
    owners = {"spacetime": build_uid, "grafana": str(GRAFANA_UID)}
    for service, owner in owners.items():
        (grant,) = compose["services"][service]["secrets"]
        assert grant["uid"] == owner, service
        assert grant["mode"] == 0o400, service  # YAML's 0400
    assert build_uid == "${SPACETIME_UID:-1000}"
    assert "ARG SPACETIME_UID=1000\n" in dockerfile


def test_the_container_runs_the_project_with_the_hosts_godot_under_xvfb(
    machine: DeployContext, tmp_path: Path
) -> None:
    _, _, godot = contexts(machine, tmp_path)
    context = godot[1]
    service = compose_of(render_docker(context))["services"]["spacetime"]
    command = service["command"]
    assert command[command.index("--godot-path") + 1] == str(CONTAINER_GODOT)
    assert command[command.index("--project-path") + 1] == str(CONTAINER_PROJECT)
    assert command[command.index("--config") + 1] == str(CONTAINER_CONFIG)
    assert "--xvfb" in command and "--demo" not in command
    assert command[-3:] == ["--auto-load-scene", "--editor", "--xvfb"]
    binds = {v["target"]: v for v in service["volumes"] if isinstance(v, dict)}
    assert binds[str(CONTAINER_PROJECT)]["source"] == str(context.project)
    assert binds[str(CONTAINER_PROJECT)]["read_only"] is False
    assert binds[str(CONTAINER_GODOT)]["source"] == context.godot
    assert binds[str(CONTAINER_GODOT)]["read_only"] is True
    assert context.config is not None
    assert binds[str(CONTAINER_CONFIG)]["source"] == str(context.config)
    # A missing host path is an error at `up`, not an empty folder made by Docker.
    assert all(v["bind"]["create_host_path"] is False for v in binds.values())


def test_the_demo_runs_the_images_own_simulator(machine: DeployContext) -> None:
    service = compose_of(render_docker(machine))["services"]["spacetime"]
    command = service["command"]
    assert command[-1] == "--demo"
    assert "--godot-path" not in command and "--project-path" not in command
    assert not [v for v in service["volumes"] if isinstance(v, dict)]


def test_a_dollar_in_a_path_stays_literal(machine: DeployContext, tmp_path: Path) -> None:
    """Compose interpolates `$`: a path holding one is written with `$$`."""
    context = dataclasses.replace(
        machine, godot="/opt/godot/godot", project=Path("/srv/my $HOME game")
    )
    service = compose_of(render_docker(context))["services"]["spacetime"]
    sources = [v["source"] for v in service["volumes"] if isinstance(v, dict)]
    assert "/srv/my $$HOME game" in sources
    result = check_compose(text_of(render_docker(context), "docker-compose.yml"), tmp_path)
    assert result.returncode == 0, result.stdout


def test_the_commands_are_serves(machine: DeployContext, tmp_path: Path) -> None:
    """The compose command and the image's default command parse as `serve` arguments."""
    parser = build_parser()
    for context in all_contexts(machine, tmp_path):
        files = render_docker(context)
        command = compose_of(files)["services"]["spacetime"]["command"]
        default = re.search(r"(?m)^CMD (.*)$", text_of(files, "Dockerfile"))
        assert default is not None
        for words in (command, json.loads(default.group(1))):
            assert words[0] == "serve"
            args = parser.parse_args(words)
            assert args.host == "0.0.0.0"


def test_the_monitoring_kit_is_reused_unchanged(machine: DeployContext) -> None:
    files = render_docker(machine)
    for name, relative in KIT_FILES.items():
        assert text_of(files, name) == (MONITORING_KIT / relative).read_text(encoding="utf-8")
    compose = compose_of(files)
    mounts = (
        compose["services"]["prometheus"]["volumes"] + compose["services"]["grafana"]["volumes"]
    )
    names = {file.name for file in files}
    for mount in mounts:
        source = mount.split(":")[0]
        if source.startswith("./"):
            assert any(n == source[2:] or n.startswith(source[2:] + "/") for n in names), source


def test_packaging_holds_the_reference_rendering() -> None:
    regenerate = (
        "regenerate with: "
        "spacetime-panel deploy docker --reference --output packaging/docker --force"
    )
    files = render_docker(DeployContext.reference())
    for file in files:
        shipped = PACKAGING_DOCKER / file.name
        assert shipped.is_file(), f"packaging/docker/{file.name} is missing; {regenerate}"
        assert shipped.read_text(encoding="utf-8") == file.text, f"{file.name}: {regenerate}"
    extra = {
        path.relative_to(PACKAGING_DOCKER).as_posix()
        for path in PACKAGING_DOCKER.rglob("*")
        if path.is_file()
    } - {file.name for file in files}
    assert not extra, f"packaging/docker holds files no rendering makes: {sorted(extra)}"


def test_what_the_image_copies_builds_the_panel(tmp_path: Path) -> None:
    """The Dockerfile's COPY lines take enough of the source tree for `pip install /src`:
    a wheel built from just those files holds the package, its data and its commands."""
    dockerfile = text_of(render_docker(DeployContext.reference()), "Dockerfile")
    copies = re.findall(rf"(?m)^COPY --from={SOURCE_CONTEXT} (.+)$", dockerfile)
    assert copies
    source = tmp_path / "src"
    for copy in copies:
        *items, destination = copy.split()
        assert destination.startswith("/src/")
        for item in items:
            origin = REPOSITORY / item
            target = source / destination.removeprefix("/src/")
            if origin.is_dir():
                shutil.copytree(origin, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, target / origin.name)
    out = tmp_path / "wheels"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", *build_isolation(), "-q",
         "-w", str(out), str(source)],
        capture_output=True, text=True, timeout=180 * TIME_SCALE, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = out.glob("spacetime_panel-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        commands = archive.read(entry_points).decode()
    for needed in (
        "spacetime_panel/cli.py",
        "spacetime_panel/demo_project/project.godot",
        "spacetime_panel/addons/spacetime_bridge/plugin.cfg",
    ):
        assert needed in names
    assert "spacetime-panel = spacetime_panel.cli:main" in commands
    assert "spacetime-godot-sim = spacetime_panel.sim.main:main" in commands


# --- the health check and the key, on a real panel -------------------------------------


def health_check(port: int) -> subprocess.CompletedProcess[str]:
    """The image's HEALTHCHECK command, with this Python for the image's."""
    command = health_check_command(port)
    assert command[0] == str(CONTAINER_PYTHON)
    return subprocess.run(
        [sys.executable, *command[1:]],
        capture_output=True,
        text=True,
        timeout=30 * TIME_SCALE,
        check=False,
    )


@pytest.fixture
def serve(tmp_path: Path, project: Path) -> Iterator[Serve]:
    panel = Serve(tmp=tmp_path, project=project)
    try:
        yield panel
    finally:
        panel.cleanup()


def test_the_health_check_passes_on_a_healthy_panel(serve: Serve) -> None:
    serve.start()
    serve.wait_healthy(30)
    result = health_check(serve.port)
    assert result.returncode == 0, result.stderr


def test_the_health_check_fails_on_503_and_when_nothing_answers(serve: Serve) -> None:
    """A game that is still starting makes /health 503: unhealthy, with the reason."""
    serve.start(env={"SPACETIME_SIM_START_DELAY": "120"})
    assert serve.get("/health").status_code == 503
    result = health_check(serve.port)
    assert result.returncode == 1
    assert result.stderr.strip() == "unhealthy: HTTP Error 503: Service Unavailable"
    assert serve.stop_panel() == 0
    result = health_check(serve.port)
    assert result.returncode == 1
    assert result.stderr.startswith("unhealthy: <urlopen error [Errno 111]")


def test_the_images_command_refuses_to_serve_without_the_key(tmp_path: Path) -> None:
    """Without the key's secret (compose stops `up` first when its variable is unset):
    on 0.0.0.0, no key, no API."""
    files = render_docker(
        dataclasses.replace(
            DeployContext.reference(), settings=Settings(api=ApiSettings(port=free_port()))
        )
    )
    default = re.search(r"(?m)^CMD (.*)$", text_of(files, "Dockerfile"))
    assert default is not None
    words = [
        str(tmp_path / "logs") if word == "/var/log/spacetime-panel" else word
        for word in json.loads(default.group(1))
    ]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SPACETIME")}
    environment["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    result = subprocess.run(
        [*PANEL, *words],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60 * TIME_SCALE,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("spacetime-panel: "), result.stderr
    assert PANEL_API_KEY.variable in lines[0]


class DemoServe(Serve):
    """`serve --demo` (the image's default command): the bundled project, no paths."""

    def args(self, *extra: str, godot: bool = True) -> list[str]:
        return super().args(*extra, "--demo", godot=False)


@pytest.fixture
def demo_serve(tmp_path: Path, project: Path) -> Iterator[DemoServe]:
    panel = DemoServe(tmp=tmp_path, project=project)
    try:
        yield panel
    finally:
        panel.cleanup()


def test_serve_requires_the_key_from_the_secrets_file(
    demo_serve: DemoServe, tmp_path: Path
) -> None:
    """What the container gets: no key in the environment, only the variable naming
    the secret's file (Docker's, ending in a newline). No keyring: the file is the
    only place the key can come from."""
    key = "key-from-the-docker-secret-5f2b9c"
    secret = tmp_path / "run" / "secrets" / PANEL_KEY_SECRET.name
    secret.parent.mkdir(parents=True)
    secret.write_text(key + "\n", encoding="utf-8")
    secret.chmod(0o400)
    demo_serve.start(
        env={
            PANEL_KEY_SECRET.file_variable: str(secret),
            "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
            "XDG_DATA_HOME": str(tmp_path / "data"),  # where --demo copies its project
        }
    )
    demo_serve.wait_healthy(30)  # /status asks the game
    assert demo_serve.get("/status").status_code == 401
    wrong = demo_serve.get("/status", headers={"Authorization": "Bearer not-the-key"})
    assert wrong.status_code == 401
    answer = demo_serve.get("/status", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.text
    assert (tmp_path / "data" / "spacetime-panel" / "demo_project").is_dir()


def test_serve_refuses_an_empty_secrets_file(tmp_path: Path) -> None:
    """An empty variable on the host makes an empty secret file: one line, no API."""
    secret = tmp_path / PANEL_KEY_SECRET.name
    secret.write_text("\n", encoding="utf-8")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SPACETIME")}
    environment[PANEL_KEY_SECRET.file_variable] = str(secret)
    environment["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    environment["XDG_DATA_HOME"] = str(tmp_path / "data")
    port = free_port()
    result = subprocess.run(
        [*PANEL, "serve", "--demo", "--port", str(port), "--log-dir", str(tmp_path / "logs")],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60 * TIME_SCALE,
        check=False,
    )
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("spacetime-panel: cannot read the management API key: ")
    assert f"{PANEL_KEY_SECRET.file_variable}={secret}: the file is empty" in lines[0]
    assert result.returncode == 1


def test_a_missing_monitoring_kit_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Outside a source checkout the kit is not there: one line that says where it looked."""
    monkeypatch.setattr("spacetime_panel.deploy.docker.MONITORING_KIT", tmp_path / "none")
    with pytest.raises(FileNotFoundError) as raised:
        render_docker(DeployContext.reference())
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("the monitoring kit's alerts.yml is not at ")
    assert "source checkout" in message


def test_the_scrape_and_the_health_check_need_no_key() -> None:
    """Prometheus and the HEALTHCHECK send no key: that holds while /metrics and /health
    are open paths (if one closes, the scrape config needs a read key)."""
    from spacetime_panel.api.security import OPEN_PATHS

    assert {"/metrics", "/health"} <= OPEN_PATHS
    files = render_docker(DeployContext.reference())
    assert "authorization" not in text_of(files, "monitoring/prometheus.yml")
    assert "metrics_path: /metrics" in text_of(files, "monitoring/prometheus.yml")
