"""The bridge protocol's contract: JSON Schemas and conformance vectors (see README.md).

The files are package data, read through :mod:`importlib.resources` so they
work from a wheel as well as from a checkout. Validation needs the
``jsonschema`` package, a test dependency only: it is imported inside
:func:`validate`, so importing this module (and loading the files) never
needs it.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

PROTOCOL = "spacetime-bridge/1"

_BIG = re.compile(r"\{\{BIG:(\d+)\}\}")


def _read(folder: str, name: str) -> Any:
    if not re.fullmatch(r"[a-z_]+", name):
        raise ValueError(f"not a contract file name: {name!r}")
    text = resources.files(__name__).joinpath(folder, f"{name}.json").read_text(encoding="utf-8")
    return json.loads(text)


def schema(name: str) -> dict[str, Any]:
    """The JSON Schema ``schemas/NAME.json`` (NAME is the file stem, e.g. ``"status"``)."""
    document = _read("schemas", name)
    if not isinstance(document, dict):
        raise ValueError(f"schemas/{name}.json is not a JSON object")
    return document


def vectors(name: str) -> Any:
    """The parsed vector file ``vectors/NAME.json`` (e.g. ``"http"``, ``"frames"``)."""
    return _read("vectors", name)


def validate(schema_name: str, document: Any) -> list[str]:
    """Why ``document`` does not match ``schemas/SCHEMA_NAME.json``; empty when it does.

    Each message names where in the document the problem is (``$.data.fps: ...``).
    Needs ``jsonschema`` (a test dependency).
    """
    from jsonschema import Draft202012Validator  # only tests validate; see the module doc

    validator = Draft202012Validator(schema(schema_name))
    errors = sorted(validator.iter_errors(document), key=lambda error: list(error.path))
    return [f"{error.json_path}: {error.message}" for error in errors]


def expand_chunks(chunks: list[str]) -> bytes:
    """The raw request of an ``http.json`` case: the chunks joined, ``{{BIG:N}}`` as N ``a``s.

    Chunks are text whose characters are sent as UTF-8.
    """
    return b"".join(expand_chunk(chunk) for chunk in chunks)


def expand_chunk(chunk: str) -> bytes:
    """One chunk of an ``http.json`` case as the bytes to send."""
    return _BIG.sub(lambda match: "a" * int(match.group(1)), chunk).encode("utf-8")
