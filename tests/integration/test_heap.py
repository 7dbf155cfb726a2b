"""A service that owns its process freezes its start-up heap out of garbage collection."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from spacetime_panel.api.security import ManagementKeys
from spacetime_panel.service.heap import freeze_heap
from spacetime_panel.service.panel_service import PanelService
from tests.integration.conftest import panel_settings


@pytest.mark.parametrize("owns_process", [True, False])
async def test_the_start_up_heap_is_frozen_only_when_the_service_owns_the_process(
    project: Path, tmp_path: Path, owns_process: bool
) -> None:
    gc.unfreeze()
    settings = panel_settings(project, tmp_path, game=False)
    service = PanelService(settings, api_key=None, keys=ManagementKeys(), owns_process=owns_process)
    try:
        await service.start()
        frozen = gc.get_freeze_count()
    finally:
        await service.stop()
        gc.unfreeze()  # this test process is not a panel: give its objects back

    if owns_process:
        assert frozen > 10_000  # the modules, the app, the settings: tens of thousands
    else:
        assert frozen == 0


def test_a_full_collection_after_the_freeze_walks_only_what_came_after() -> None:
    gc.unfreeze()
    try:
        frozen = freeze_heap("test")
        garbage = [[index] for index in range(1000)]
        garbage.append(garbage)  # a cycle: only the collector frees it
        del garbage
        found = gc.collect()
        assert gc.get_freeze_count() == frozen  # collecting leaves the frozen ones alone
        assert found >= 1  # and still finds new garbage
    finally:
        gc.unfreeze()
