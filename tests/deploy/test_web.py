"""nginx and logrotate accept the files rendered for this machine (`nginx -t`, `logrotate -d`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from spacetime_panel.config import ApiSettings, Settings
from spacetime_panel.deploy.context import DeployContext
from spacetime_panel.deploy.web import nginx_site, render_logrotate, render_nginx
from tests.certificates import self_signed
from tests.deploy.conftest import run_tool, tool

# An Apache MD5 htpasswd line (user "panel"); nginx -t does not read it, nginx serving does.
HTPASSWD = "panel:$apr1$Uk3vQ7sO$1Yp0aJb1u4mBvR8x2Yy1n/\n"


def nginx_test(site: str, prefix: Path) -> str:
    """`nginx -t` on the site inside a minimal http {} whose files all live in `prefix`;
    its complaints, or empty when nginx accepts it."""
    (prefix / "site.conf").write_text(site, encoding="utf-8")
    temp = " ".join(
        f"{kind}_temp_path {prefix / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (prefix / "nginx.conf").write_text(
        f"pid {prefix / 'nginx.pid'};\n"
        f"error_log {prefix / 'error.log'};\n"
        "events {}\n"
        f"http {{\n    access_log off;\n    {temp}\n    include {prefix / 'site.conf'};\n}}\n",
        encoding="utf-8",
    )
    result = run_tool(tool("nginx"), "-p", prefix, "-c", prefix / "nginx.conf", "-t")
    if result.returncode == 0 and "test is successful" in result.stderr:
        return ""
    return f"exit {result.returncode}: {result.stderr.strip()}"


def rendered_site(context: DeployContext, folder: Path) -> str:
    certificate, key = self_signed(folder, dns="spacetime.example.com")
    (folder / "my htpasswd").write_text(HTPASSWD, encoding="utf-8")
    return nginx_site(
        context,
        certificate=str(certificate),
        certificate_key=str(key),
        htpasswd=str(folder / "my htpasswd"),
    )


def test_nginx_accepts_the_site(machine: DeployContext, tmp_path: Path) -> None:
    assert nginx_test(rendered_site(machine, tmp_path), tmp_path) == ""


def test_nginx_rejects_a_broken_site(machine: DeployContext, tmp_path: Path) -> None:
    """The check can fail: a missing certificate and a typo are both refused."""
    site = rendered_site(machine, tmp_path)
    assert "certificate" in nginx_test(site.replace("panel.pem", "none.pem"), tmp_path)
    assert "proxy_pas" in nginx_test(site.replace("proxy_pass ", "proxy_pas "), tmp_path)


def test_the_site_forwards_to_the_configured_api(machine: DeployContext, tmp_path: Path) -> None:
    settings = Settings(
        api=ApiSettings(
            port=8123, allowed_hosts=("panel.studio.test",), trusted_proxies=("127.0.0.1",)
        )
    )
    site = render_nginx(dataclasses.replace(machine, settings=settings))[0].text
    assert "proxy_pass http://127.0.0.1:8123;" in site
    assert "server_name panel.studio.test;" in site
    assert "trusts 127.0.0.1" in site
    # The API believes the last X-Forwarded-For hop that is not a trusted proxy: nginx
    # replaces the header with the peer it saw, so a client cannot choose that hop.
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in site
    assert "$proxy_add_x_forwarded_for" not in site
    assert (
        nginx_test(
            rendered_site(dataclasses.replace(machine, settings=settings), tmp_path), tmp_path
        )
        == ""
    )


def test_the_reference_site_says_what_the_api_must_trust() -> None:
    site = render_nginx(DeployContext.reference())[0].text
    assert "add 127.0.0.1 to api.trusted_proxies" in site
    assert "api.allowed_hosts" in site


def logrotate_debug(config: str, folder: Path) -> str:
    (folder / "logrotate.conf").write_text(config, encoding="utf-8")
    result = run_tool(
        tool("logrotate"), "-d", "-s", folder / "logrotate.state", folder / "logrotate.conf"
    )
    output = result.stdout + result.stderr
    if result.returncode != 0 or "error:" in output:
        return f"exit {result.returncode}: {output.strip()}"
    return ""


@pytest.fixture
def spaced_logs(machine: DeployContext, tmp_path: Path) -> DeployContext:
    logs = tmp_path / "log folder"
    logs.mkdir()
    (logs / "serve-output.log").write_text("a line\n", encoding="utf-8")
    return dataclasses.replace(machine, log_dir=logs)


def test_logrotate_accepts_the_file(spaced_logs: DeployContext, tmp_path: Path) -> None:
    config = render_logrotate(spaced_logs)[0].text
    assert logrotate_debug(config, tmp_path) == ""


def test_logrotate_rejects_a_broken_file(spaced_logs: DeployContext, tmp_path: Path) -> None:
    config = render_logrotate(spaced_logs)[0].text
    assert "rotate" in logrotate_debug(config.replace("rotate 14", "rotate many"), tmp_path)


def test_logrotate_leaves_the_panels_own_logs_alone(machine: DeployContext) -> None:
    """The panel rotates spacetime-panel.log, audit.log, game.log and editor.log itself."""
    config = render_logrotate(machine)[0].text
    rules = [line for line in config.splitlines() if line and not line.startswith("#")]
    assert rules[0] == f"{machine.log_dir / 'serve-output.log'} {{"
    assert "copytruncate" in config
    assert not any(".log" in line and "serve-output" not in line for line in rules)


def test_logrotate_rotates_the_output_in_place(spaced_logs: DeployContext, tmp_path: Path) -> None:
    """A forced rotation: the captured output is copied to .1 and emptied in place
    (copytruncate), so supervisord's open file keeps working."""
    output = spaced_logs.log_dir / "serve-output.log"
    with output.open("a", encoding="utf-8") as writer:  # the writer that keeps it open
        config = tmp_path / "logrotate.conf"
        config.write_text(render_logrotate(spaced_logs)[0].text, encoding="utf-8")
        result = run_tool(tool("logrotate"), "-f", "-s", tmp_path / "state", config)
        assert result.returncode == 0, result.stdout + result.stderr
        writer.write("after the rotation\n")
    assert (spaced_logs.log_dir / "serve-output.log.1").read_text(encoding="utf-8") == "a line\n"
    assert output.read_text(encoding="utf-8") == "after the rotation\n"
