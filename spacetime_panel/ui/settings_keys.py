"""The settings dialog's "API keys" section: set or clear each key in the OS keyring.

Keys go to the keyring and nowhere else: not the config file, not QSettings,
not even the line edit after "Set" (it is emptied at once). The section
says where the key in force comes from, and the environment variable wins,
as `SecretStore.get` decides. With no usable keyring it says so plainly and
names the variables to use instead; there is no fallback file.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from spacetime_panel.secrets import SECRETS, KeyringUnavailable, Secret, SecretStore

ERROR_STYLE = "color: #c62828;"
NOTE_STYLE = "color: palette(mid);"


def source_text(store: SecretStore, secret: Secret) -> str:
    """Where the key in force comes from, in the user's words."""
    if not store.available():
        _value, source = store.get(secret)
    else:
        try:
            _value, source = store.lookup(secret)
        except KeyringUnavailable as error:
            return f"unknown: {error}"
    if source == "environment":
        return f"from environment variable {secret.variable} (the environment wins)"
    if source == "keyring":
        return "stored in the OS keyring"
    return "not set"


def no_keyring_text(reason: str) -> str:
    variables = " / ".join(secret.variable for secret in SECRETS)
    return (
        f"No OS keyring is available here ({reason}). Set {variables} in the environment instead."
    )


class KeyRow(QGroupBox):
    """One key: a password field, Set and Clear, where it comes from, and any error."""

    def __init__(self, secret: Secret, store: SecretStore, parent: QWidget | None = None) -> None:
        super().__init__(secret.label, parent)
        self.secret = secret
        self._store = store
        available = store.available()

        self.value_edit = QLineEdit()
        self.value_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.value_edit.setInputMethodHints(
            Qt.InputMethodHint.ImhSensitiveData | Qt.InputMethodHint.ImhNoPredictiveText
        )
        self.value_edit.setPlaceholderText(
            "new key" if available else f"use {secret.variable} instead"
        )
        self.value_edit.setEnabled(available)
        self.set_button = QPushButton("Set")
        self.set_button.setAutoDefault(False)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setAutoDefault(False)
        self.clear_button.setEnabled(available)
        self.source_label = QLabel()
        self.source_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.source_label.setWordWrap(True)  # "unknown: <why the keyring cannot be read>"
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.hide()

        grid = QGridLayout(self)
        grid.addWidget(self.value_edit, 0, 0)
        grid.addWidget(self.set_button, 0, 1)
        grid.addWidget(self.clear_button, 0, 2)
        grid.addWidget(QLabel("Current value:"), 1, 0, 1, 3)
        grid.addWidget(self.source_label, 2, 0, 1, 3)
        grid.addWidget(self.status_label, 3, 0, 1, 3)

        self.value_edit.textChanged.connect(self._update_buttons)
        self.value_edit.returnPressed.connect(self.store_value)
        self.set_button.clicked.connect(self.store_value)
        self.clear_button.clicked.connect(self.clear_value)
        self._update_buttons()
        self.refresh()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        # Enter in the key field sets the key (returnPressed); it must not also press OK.
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            event.accept()
            return
        super().keyPressEvent(event)

    def refresh(self) -> None:
        self.source_label.setText(source_text(self._store, self.secret))

    def store_value(self) -> None:
        """Put the typed key into the keyring; the field is emptied either way."""
        value = self.value_edit.text()
        if not value or not self._store.available():
            return
        self.value_edit.clear()
        self._run(lambda: self._store.set(self.secret, value), "Saved in the OS keyring.")

    def clear_value(self) -> None:
        self._run(lambda: self._store.delete(self.secret), "Removed from the OS keyring.")

    def _run(self, action: Callable[[], object], done: str) -> None:
        try:
            action()
        except (KeyringUnavailable, ValueError) as error:
            self._show_status(str(error), error=True)
        except Exception as error:  # a keyring backend's own failure: one line, no traceback
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            reason = first or type(error).__name__
            self._show_status(f"The OS keyring failed ({reason}).", error=True)
        else:
            _value, source = self._store.get(self.secret)
            if source == "environment":
                done += f" {self.secret.variable} is set in the environment and still wins."
            self._show_status(done, error=False)
        self.refresh()

    def _show_status(self, text: str, *, error: bool) -> None:
        self.status_label.setText(text)
        self.status_label.setStyleSheet(ERROR_STYLE if error else "")
        self.status_label.show()

    def _update_buttons(self) -> None:
        self.set_button.setEnabled(self._store.available() and bool(self.value_edit.text()))


class ApiKeysSection(QWidget):
    """The bridge key, the management API's control and read-only keys, and a plain
    note when the OS keyring cannot be used."""

    def __init__(self, store: SecretStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        reason = store.unavailable_reason()
        self.keyring_note = QLabel(
            no_keyring_text(reason)
            if reason is not None
            else "Keys are kept in the OS keyring, never in the config file. "
            "An environment variable, when set, wins over the keyring."
        )
        self.keyring_note.setWordWrap(True)
        if reason is not None:
            self.keyring_note.setStyleSheet(ERROR_STYLE)
        layout.addWidget(self.keyring_note)
        self.rows = {secret.name: KeyRow(secret, store) for secret in SECRETS}
        for row in self.rows.values():
            layout.addWidget(row)
        self.scope_note = QLabel(
            "The read-only key opens health, services, logs, telemetry and metrics, but not "
            "start, stop or scene loading: give that one to Prometheus and dashboards. "
            "Expiring tokens: spacetime-panel keys token --scope read --ttl 8h"
        )
        self.scope_note.setWordWrap(True)
        self.scope_note.setStyleSheet(NOTE_STYLE)
        layout.addWidget(self.scope_note)
        hint = QLabel(f"Backend: {store.backend_name}")
        hint.setStyleSheet(NOTE_STYLE)
        layout.addWidget(hint)
        layout.addStretch(1)

    def row(self, secret: Secret) -> KeyRow:
        return self.rows[secret.name]


__all__ = ["ApiKeysSection", "KeyRow", "no_keyring_text", "source_text"]
