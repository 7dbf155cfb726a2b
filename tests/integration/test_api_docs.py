"""/docs is Swagger UI from files inside the package: nothing is loaded from another site."""

from __future__ import annotations

import re
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from spacetime_panel.api.docs import SWAGGER_UI
from tests.integration.conftest import Serve
from tests.integration.test_install_addon_wheel import build_wheel


class Links(HTMLParser):
    """Every src= and href= of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


def test_docs_page_loads_only_from_this_server(gameless_serve: Serve) -> None:
    page = gameless_serve.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    # No absolute URL at all: not in a tag, not in the inline script.
    assert not re.search(r"(?i)\b(?:https?:)?//[a-z0-9]", page.text), page.text
    links = Links()
    links.feed(page.text)
    assert links.urls, page.text
    for url in links.urls:
        assert url.startswith("/") and not url.startswith("//"), url
    assert "url: '/openapi.json'" in page.text
    assert gameless_serve.get("/openapi.json").status_code == 200


@pytest.mark.parametrize(
    ("name", "media"),
    [
        ("swagger-ui-bundle.js", "javascript"),
        ("swagger-ui.css", "text/css"),
        ("favicon-32x32.png", "image/png"),
    ],
)
def test_docs_assets_are_served_from_the_package(
    gameless_serve: Serve, name: str, media: str
) -> None:
    page = gameless_serve.get("/docs").text
    assert f'"/docs/assets/{name}"' in page
    asset = gameless_serve.get(f"/docs/assets/{name}")
    assert asset.status_code == 200
    assert media in asset.headers["content-type"]
    assert asset.content == (SWAGGER_UI / name).read_bytes()


def test_swagger_ui_reads_the_openapi_version_fastapi_writes(gameless_serve: Serve) -> None:
    # Swagger UI before 5 shows "does not specify a valid version field" for 3.1.
    assert gameless_serve.get("/openapi.json").json()["openapi"].startswith("3.1")
    bundle = (SWAGGER_UI / "swagger-ui-bundle.js").read_text(encoding="utf-8")
    versions = set(re.findall(r'"(5\.\d+\.\d+)"', bundle))
    assert versions, "swagger-ui-bundle.js is not Swagger UI 5"
    notes = (SWAGGER_UI / "README.md").read_text(encoding="utf-8")
    assert any(f"swagger-ui-dist {version}" in notes for version in versions)
    assert (SWAGGER_UI / "LICENSE").is_file() and (SWAGGER_UI / "NOTICE").is_file()


def test_no_cdn_pages_nor_unknown_assets(gameless_serve: Serve) -> None:
    redoc = gameless_serve.get("/redoc")  # FastAPI's ReDoc page loads from a CDN: not served
    assert redoc.status_code == 404
    assert redoc.json()["error"] == "Not Found"
    missing = gameless_serve.get("/docs/assets/nothing.js")
    assert missing.status_code == 404
    assert set(missing.json()) == {"error", "message"}
    outside = gameless_serve.get("/docs/assets/..%2F..%2Fapp.py")
    assert outside.status_code == 404
    # Only the files the page loads are served, not the rest of the folder.
    assert (SWAGGER_UI / "README.md").is_file()
    assert gameless_serve.get("/docs/assets/README.md").status_code == 404


def test_docs_assets_travel_in_the_wheel(tmp_path: Path) -> None:
    with zipfile.ZipFile(build_wheel(tmp_path)) as archive:
        names = set(archive.namelist())
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "LICENSE"):
        assert f"spacetime_panel/api/static/swagger-ui/{name}" in names, name
