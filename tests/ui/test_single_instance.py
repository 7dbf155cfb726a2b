"""A second panel for the same port brings the first to the front instead of starting."""

from __future__ import annotations

import os

from PySide6.QtWidgets import QApplication

from spacetime_panel.ui.single_instance import SingleInstance, instance_key


def test_second_claim_asks_the_first_to_show(qapp: QApplication, qtbot) -> None:  # type: ignore[no-untyped-def]
    key = f"{instance_key(8090)}-test-{os.getpid()}"
    first = SingleInstance(key)
    assert first.claim()
    try:
        second = SingleInstance(key)
        with qtbot.waitSignal(first.show_requested, timeout=5000):
            assert not second.claim()  # the first panel answered: do not start twice
    finally:
        first.release()
    third = SingleInstance(key)
    assert third.claim()  # released: the name is free again
    third.release()


def test_keys_differ_per_management_port() -> None:
    assert instance_key(8090) != instance_key(8091)
