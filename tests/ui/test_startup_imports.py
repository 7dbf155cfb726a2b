"""What the desktop panel imports before its window opens: nothing it may never use.

Each module imported stays in memory for the life of the process (the panel
runs for days in the tray), so the ones only a rarely used action needs are
imported when that action first runs. Checked in a fresh interpreter: this
test process has imported everything already.
"""

from __future__ import annotations

import json
import subprocess
import sys

#: Imported on first use only: the settings dialog (and its key editor), the MCP SDK,
#: PyJWT and cryptography (a signed token's first check).
LATER = (
    "spacetime_panel.ui.settings_dialog",
    "spacetime_panel.ui.settings_keys",
    "mcp",
    "jwt",
    "cryptography",
)


def modules_after(statement: str) -> set[str]:
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_the_panel_starts_without_the_modules_it_needs_later():
    loaded = modules_after("import spacetime_panel.ui.app")
    assert "spacetime_panel.ui.main_window" in loaded  # the import did run
    assert not loaded & set(LATER)
    # Opening the dialog imports it then: test_main_window's settings test opens it.
