"""Run Godot 4.6 (the official web export template) in headless Chromium.

`pack` writes .pck files, `template` finds or fetches the engine, `runner` serves a
page and reads the engine's output over the DevTools protocol, `project` builds the
packs of the addon's three runs, `checks` judges a run. CLI: `python -m tests.godot_web`.
"""
