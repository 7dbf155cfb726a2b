"""The CI kit for the game's repository: a GitHub Actions workflow, a GitLab CI file
and a pre-commit configuration.

Every file checks the project's GDScript with gdtoolkit (`gdlint`, `gdformat
--check`; `addons/` and `.godot/` are left out: third-party code is not yours to
lint). The CI files also run a job that installs Godot and SpaceTime Panel,
starts the game under `spacetime-panel serve --xvfb`, waits until the
management API answers `/health`, runs `spacetime-panel check-scenes` (every
scene loaded, JUnit report) and stops serve.

The files assume the Godot project is the repository root; the `PROJECT_PATH`
variable says otherwise. SpaceTime Panel is not on PyPI, so how pip installs it
is the `SPACETIME_PANEL_SPEC` variable (a `spacetime-panel @ git+https://...`
requirement, a wheel URL, ...); the job stops with one line until it is set.
The ports are the context's (`--port`, `--godot-port`, `--telemetry-port`),
the same for serve and check-scenes. Extra `serve` arguments (`deploy ... --
ARGS`) go to serve, except `--auto-load-scene`: check-scenes loads the scenes
itself, and a second loader would race it.
"""

from __future__ import annotations

import shlex

from spacetime_panel.deploy.context import DeployContext, RenderedFile

GITHUB_WORKFLOW = ".github/workflows/spacetime-checks.yml"
GITLAB_CI = ".gitlab-ci.yml"
PRE_COMMIT_CONFIG = ".pre-commit-config.yaml"

#: The Godot release the jobs download (the official builds on GitHub).
GODOT_VERSION = "4.5"
GODOT_URL = (
    "https://github.com/godotengine/godot/releases/download/"
    "${GODOT_VERSION}-stable/Godot_v${GODOT_VERSION}-stable_linux.x86_64.zip"
)
GODOT_BINARY = "Godot_v${GODOT_VERSION}-stable_linux.x86_64"
#: gdtoolkit for Godot 4: the pip requirement, and the tag of its pre-commit hooks.
GDTOOLKIT = "gdtoolkit==4.*"
GDTOOLKIT_REPO = "https://github.com/Scony/godot-gdscript-toolkit"
GDTOOLKIT_REV = "4.5.0"
#: What SPACETIME_PANEL_SPEC holds until it is set; the install step stops on it.
SPEC_PLACEHOLDER = "REPLACE-ME with a pip requirement for spacetime-panel"
#: The workflow's SPACETIME_PANEL_SPEC: a secret wins over a variable, then the placeholder.
GITHUB_SPEC = (
    f"${{{{ secrets.SPACETIME_PANEL_SPEC || vars.SPACETIME_PANEL_SPEC || '{SPEC_PLACEHOLDER}' }}}}"
)
PYTHON_VERSION = "3.12"
#: Seconds the job waits for the management API, and each scene may take to load.
HEALTH_WAIT_SECONDS = 120
SCENE_TIMEOUT_SECONDS = 120
#: Where reports and logs go (uploaded as artifacts).
REPORTS = "reports"
JUNIT = f"{REPORTS}/scenes.xml"
#: The Debian/Ubuntu packages Godot needs on a virtual display, and Xvfb itself.
APT_PACKAGES = (
    "xvfb xauth unzip curl libfontconfig1 libgl1 libegl1 libxcursor1 libxinerama1 "
    "libxrandr2 libxi6 libvulkan1 mesa-vulkan-drivers"
)
#: The .gd files of the game: not under addons/ (third-party) nor .godot/ (generated).
GD_FILES = (
    'find "$PROJECT_PATH" -name "*.gd" -not -path "*/addons/*" -not -path "*/.godot/*" -print0'
)
#: serve arguments that do not belong in a CI run (see the module).
DROPPED_SERVE_ARGS = frozenset({"--auto-load-scene"})


def _ports(context: DeployContext) -> list[str]:
    settings = context.settings
    return [
        "--port",
        str(settings.api.port),
        "--godot-port",
        str(settings.ports.http),
        "--telemetry-port",
        str(settings.ports.telemetry),
    ]


def _serve_command(context: DeployContext) -> str:
    extra = [arg for arg in context.serve_args if arg not in DROPPED_SERVE_ARGS]
    words = [
        "spacetime-panel serve --xvfb",
        '--godot-path "$GODOT"',
        '--project-path "$PROJECT_PATH"',
        f"--log-dir {REPORTS}/logs",
        shlex.join(_ports(context)),
        *([shlex.join(extra)] if extra else []),
    ]
    return " ".join(words)


def _lint_lines() -> list[str]:
    return [
        f'python -m pip install "{GDTOOLKIT}"',
        f"{GD_FILES} | xargs -0 --no-run-if-empty gdlint",
        f"{GD_FILES} | xargs -0 --no-run-if-empty gdformat --check",
    ]


def _install_godot() -> str:
    return "\n".join(
        [
            'mkdir -p "$HOME/godot"',
            f'curl -fsSL -o "$HOME/godot/godot.zip" "{GODOT_URL}"',
            'unzip -q -o "$HOME/godot/godot.zip" -d "$HOME/godot"',
            f'chmod +x "$HOME/godot/{GODOT_BINARY}"',
        ]
    )


def _install_panel() -> str:
    return "\n".join(
        [
            'case "$SPACETIME_PANEL_SPEC" in',
            '  ""|REPLACE-ME*) echo "Set the SPACETIME_PANEL_SPEC variable to how pip installs '
            "SpaceTime Panel, e.g. spacetime-panel @ git+https://git.example.com/you/"
            'spacetime-panel.git@v1.0" >&2; exit 1 ;;',
            "esac",
            'python -m pip install "$SPACETIME_PANEL_SPEC"',
            "# The bridge addon this panel speaks with (a no-op when the repository has it).",
            'spacetime-panel install-addon "$PROJECT_PATH"',
            "# Godot imports the project's resources once, as opening it in the editor does.",
            'timeout 600 "$GODOT" --headless --path "$PROJECT_PATH" --import || true',
        ]
    )


def _start_and_wait(context: DeployContext) -> str:
    url = f"http://127.0.0.1:{context.settings.api.port}/health"
    return "\n".join(
        [
            f"mkdir -p {REPORTS}/logs",
            f"{_serve_command(context)} > {REPORTS}/serve.log 2>&1 &",
            f"echo $! > {REPORTS}/serve.pid",
            "# /health answers 200 when healthy, 503 while not yet: any answer means serve is up.",
            f"for second in $(seq {HEALTH_WAIT_SECONDS}); do",
            f"  code=$(curl -s -o /dev/null -w '%{{http_code}}' {url} || true)",
            '  if [ "$code" = 200 ] || [ "$code" = 503 ]; then break; fi',
            f'  if [ "$second" = {HEALTH_WAIT_SECONDS} ]; then',
            f'    echo "no answer from {url} after {HEALTH_WAIT_SECONDS} s" >&2',
            f"    cat {REPORTS}/serve.log >&2; exit 1",
            "  fi",
            "  sleep 1",
            "done",
            f"curl -s {url}; echo",
        ]
    )


def _check(context: DeployContext) -> str:
    words = [*_ports(context), "--timeout", str(SCENE_TIMEOUT_SECONDS), "--junit", JUNIT]
    return f'spacetime-panel check-scenes --project-path "$PROJECT_PATH" {shlex.join(words)}'


def _stop() -> str:
    return "\n".join(
        [
            f"if [ -f {REPORTS}/serve.pid ]; then",
            f"  pid=$(cat {REPORTS}/serve.pid)",
            '  kill -TERM "$pid" 2>/dev/null || true',
            "  # serve stops Godot and Xvfb, then exits.",
            '  for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done',
            "fi",
        ]
    )


def _indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line if line else line for line in text.splitlines())


def render_github_actions(context: DeployContext) -> list[RenderedFile]:
    """`.github/workflows/spacetime-checks.yml`: lint, then every scene loaded under serve."""
    lint_steps = "\n".join(
        f"      - name: {name}\n        run: |\n          {line}"
        for name, line in zip(
            ("Install gdtoolkit", "gdlint", "gdformat --check"), _lint_lines(), strict=True
        )
    )
    text = f"""\
# Made by `spacetime-panel deploy github-actions`: GDScript lint and format, and
# every scene of the project loaded in the game under `spacetime-panel serve`.
# Set the repository variable (or secret) SPACETIME_PANEL_SPEC (Settings > Secrets and
# variables > Actions) to how pip installs SpaceTime Panel, e.g.
# `spacetime-panel @ git+https://github.com/you/spacetime-panel.git@v1.0`.
name: Godot checks

on:
  push:
  pull_request:
  workflow_dispatch:

permissions:
  contents: read

env:
  GODOT_VERSION: "{GODOT_VERSION}"
  # A secret wins over a variable (a private repository's URL may hold a token).
  SPACETIME_PANEL_SPEC: "{GITHUB_SPEC}"
  # The Godot project folder, relative to the repository root.
  PROJECT_PATH: "."

jobs:
  gdscript:
    name: GDScript lint and format
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "{PYTHON_VERSION}"
{lint_steps}

  scenes:
    name: Every scene loads
    runs-on: ubuntu-latest
    timeout-minutes: 30
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "{PYTHON_VERSION}"
      - name: Install Xvfb and the libraries Godot needs
        run: |
          sudo apt-get update
          sudo apt-get install -y --no-install-recommends {APT_PACKAGES}
      - name: Install Godot ${{{{ env.GODOT_VERSION }}}}
        run: |
{_indent(_install_godot(), 10)}
          echo "GODOT=$HOME/godot/{GODOT_BINARY}" >> "$GITHUB_ENV"
      - name: Install SpaceTime Panel
        run: |
{_indent(_install_panel(), 10)}
      - name: Start the game under spacetime-panel serve
        run: |
{_indent(_start_and_wait(context), 10)}
      - name: Load every scene
        run: |
          {_check(context)}
      - name: Stop serve
        if: always()
        run: |
{_indent(_stop(), 10)}
      - name: Upload the scene report and the logs
        if: always()
        uses: actions/upload-artifact@v4
        with:
          name: scene-report
          path: {REPORTS}/
          if-no-files-found: ignore
"""
    return [RenderedFile(GITHUB_WORKFLOW, text)]


def render_gitlab_ci(context: DeployContext) -> list[RenderedFile]:
    """`.gitlab-ci.yml`: lint, then every scene loaded under serve, JUnit in the merge request."""
    lint_script = "\n".join(f"    - {_yaml_plain(line)}" for line in _lint_lines())
    text = f"""\
# Made by `spacetime-panel deploy gitlab-ci`: GDScript lint and format, and
# every scene of the project loaded in the game under `spacetime-panel serve`
# (its JUnit report shows in merge requests).
# Set the CI/CD variable SPACETIME_PANEL_SPEC (Settings > CI/CD > Variables; it
# overrides the one below) to how pip installs SpaceTime Panel, e.g.
# `spacetime-panel @ git+https://gitlab.com/you/spacetime-panel.git@v1.0`.
stages:
  - lint
  - test

variables:
  GODOT_VERSION: "{GODOT_VERSION}"
  SPACETIME_PANEL_SPEC: "{SPEC_PLACEHOLDER}"
  # The Godot project folder, relative to the repository root.
  PROJECT_PATH: "."
  PIP_CACHE_DIR: "$CI_PROJECT_DIR/.cache/pip"

gdscript:
  stage: lint
  image: python:{PYTHON_VERSION}-bookworm
  cache:
    key: pip
    paths:
      - .cache/pip
  script:
{lint_script}

scenes:
  stage: test
  image: python:{PYTHON_VERSION}-bookworm
  timeout: 30m
  cache:
    key: pip
    paths:
      - .cache/pip
  before_script:
    - apt-get update
    - apt-get install -y --no-install-recommends {APT_PACKAGES}
    - |
{_indent(_install_godot(), 6)}
      export GODOT="$HOME/godot/{GODOT_BINARY}"
    - |
{_indent(_install_panel(), 6)}
  script:
    - |
{_indent(_start_and_wait(context), 6)}
    - {_yaml_plain(_check(context))}
  after_script:
    - |
{_indent(_stop(), 6)}
  artifacts:
    when: always
    paths:
      - {REPORTS}/
    reports:
      junit: {JUNIT}
"""
    return [RenderedFile(GITLAB_CI, text)]


def render_pre_commit(context: DeployContext) -> list[RenderedFile]:
    """`.pre-commit-config.yaml`: gdtoolkit's hooks (gdlint, gdformat) on the game's .gd files."""
    text = f"""\
# Made by `spacetime-panel deploy pre-commit`: gdtoolkit's hooks on the game's
# GDScript (not addons/: third-party code). Install once with
# `pip install pre-commit && pre-commit install`; `pre-commit run --all-files` checks all.
# gdformat rewrites the files it would change; commit them again.
repos:
  - repo: {GDTOOLKIT_REPO}
    rev: {GDTOOLKIT_REV}
    hooks:
      - id: gdlint
        exclude: (^|/)addons/
      - id: gdformat
        exclude: (^|/)addons/
"""
    return [RenderedFile(PRE_COMMIT_CONFIG, text)]


def _yaml_plain(line: str) -> str:
    """A shell line as one YAML scalar: single-quoted (its quotes doubled) when YAML needs it."""
    if any(
        mark in line
        for mark in (
            ": ",
            " #",
            "{",
            "}",
            "[",
            "]",
            "'",
            '"',
            "&",
            "*",
            "!",
            "|",
            ">",
            "%",
            "@",
            "`",
        )
    ):
        return "'" + line.replace("'", "''") + "'"
    return line
