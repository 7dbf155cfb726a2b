"""packaging/ is what `deploy --reference` renders: no hand edits drift from the renderers."""

from __future__ import annotations

from pathlib import Path

import pytest

from spacetime_panel.deploy.context import DeployContext
from spacetime_panel.deploy.targets import TARGETS, packaging_folder

PACKAGING = Path(__file__).resolve().parents[2] / "packaging"


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_packaging_is_the_reference_rendering(target: str) -> None:
    where = f"packaging/{packaging_folder(target)}"
    folder = PACKAGING / packaging_folder(target)
    regenerate = (
        f"regenerate with: spacetime-panel deploy {target} --reference --output {where} --force"
    )
    files = TARGETS[target](DeployContext.reference())
    assert files, f"{target} renders no file"
    for file in files:
        shipped = folder / file.name
        assert shipped.is_file(), f"{where}/{file.name} is missing; {regenerate}"
        assert shipped.read_text(encoding="utf-8") == file.text, (
            f"{where}/{file.name} differs from its rendering; {regenerate}"
        )
