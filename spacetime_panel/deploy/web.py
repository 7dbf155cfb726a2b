"""The web side of a server: nginx in front of the management API, logrotate for serve's output."""

from __future__ import annotations

import ipaddress

from spacetime_panel.deploy.context import DeployContext, RenderedFile
from spacetime_panel.deploy.services import SERVE_OUTPUT_LOG

#: The site's name when `api.allowed_hosts` names none.
EXAMPLE_SERVER_NAME = "spacetime.example.com"
HTPASSWD = "/etc/nginx/spacetime-panel.htpasswd"


def server_name(context: DeployContext) -> str:
    """The name the site answers to: the first of `api.allowed_hosts`, else an example."""
    hosts = context.settings.api.allowed_hosts
    return hosts[0] if hosts else EXAMPLE_SERVER_NAME


def _nginx_string(text: str) -> str:
    """An nginx parameter, quoted (nginx reads backslash escapes inside quotes)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _trusts_loopback(trusted: tuple[str, ...]) -> bool:
    for entry in trusted:
        try:
            if ipaddress.ip_address("127.0.0.1") in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def nginx_site(
    context: DeployContext, *, certificate: str, certificate_key: str, htpasswd: str
) -> str:
    """The nginx file (a `limit_req_zone` and two `server` blocks, for `http {}`)."""
    api = context.settings.api
    name = server_name(context)
    upstream = f"{api.host}:{api.port}" if ":" not in api.host else f"[{api.host}]:{api.port}"
    if _trusts_loopback(api.trusted_proxies):
        trust = (
            "# This configuration trusts 127.0.0.1 (api.trusted_proxies), so the API's rate\n"
            "# limit and audit log count the client that nginx names in X-Forwarded-For."
        )
    else:
        trust = (
            "# This configuration trusts no proxy on 127.0.0.1 (api.trusted_proxies), so the API\n"
            "# counts every request as nginx's own: add 127.0.0.1 to api.trusted_proxies to\n"
            "# rate limit and audit each client by the X-Forwarded-For set below."
        )
    if name in api.allowed_hosts:
        hosts = (
            f"# {name} is in api.allowed_hosts, so the API accepts the Host header passed below."
        )
    else:
        hosts = (
            f"# The API bound to loopback refuses a Host it does not know (403): put the real\n"
            f"# name in server_name and in api.allowed_hosts (this one is {name})."
        )
    body_mb = max(1, round(api.max_request_size_mb))
    return f"""\
# nginx: HTTPS, basic auth and a rate limit in front of the management API, which
# stays bound to {upstream} (made by `spacetime-panel deploy nginx`).
# Install: copy into /etc/nginx/conf.d/ (it belongs inside http {{}}), create the
# password file with `htpasswd -c {htpasswd} USER`, then `nginx -t && systemctl reload nginx`.
{trust}
{hosts}
# X-Forwarded-For is replaced, not appended to: a client cannot slip in an address.
limit_req_zone $binary_remote_addr zone=spacetime_panel_api:10m rate=10r/s;

server {{
    listen 443 ssl http2;
    listen [::]:443 ssl http2;
    server_name {name};

    ssl_certificate {_nginx_string(certificate)};
    ssl_certificate_key {_nginx_string(certificate_key)};
    ssl_protocols TLSv1.2 TLSv1.3;

    auth_basic "SpaceTime Panel";
    auth_basic_user_file {_nginx_string(htpasswd)};
    client_max_body_size {body_mb}m;

    location / {{
        limit_req zone=spacetime_panel_api burst=20 nodelay;
        proxy_pass http://{upstream};
        proxy_http_version 1.1;
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $remote_addr;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-Host $host;
        # Long answers (log tails) pass through as they come.
        proxy_buffering off;
        proxy_read_timeout 300s;
    }}
}}

server {{
    listen 80;
    listen [::]:80;
    server_name {name};
    return 301 https://$host$request_uri;
}}
"""


def render_nginx(context: DeployContext) -> list[RenderedFile]:
    name = server_name(context)
    text = nginx_site(
        context,
        certificate=f"/etc/letsencrypt/live/{name}/fullchain.pem",
        certificate_key=f"/etc/letsencrypt/live/{name}/privkey.pem",
        htpasswd=HTPASSWD,
    )
    return [RenderedFile("spacetime-panel.conf", text)]


def _logrotate_path(text: str) -> str:
    return '"' + text + '"' if any(c.isspace() for c in text) else text


def render_logrotate(context: DeployContext) -> list[RenderedFile]:
    output = (context.log_dir / SERVE_OUTPUT_LOG).as_posix()
    text = f"""\
# logrotate for serve's output captured by supervisord (or any `serve >> file`
# redirection) in {context.log_dir.as_posix()} (made by `spacetime-panel deploy logrotate`).
# Install: copy to /etc/logrotate.d/spacetime-panel
# Only this file: the panel rotates its own logs there (spacetime-panel.log,
# audit.log, and Godot's game.log and editor.log, 50 MB x 10) with the same
# NAME.1, NAME.2 ... names logrotate would use, so rotating them here would fight it.
# copytruncate: the writer keeps its file open (opened for appending), so the file
# is copied and then emptied in place instead of being moved away.
{_logrotate_path(output)} {{
    su {context.user} {context.group or context.user}
    daily
    rotate 14
    maxsize 50M
    compress
    delaycompress
    missingok
    notifempty
    copytruncate
}}
"""
    return [RenderedFile("spacetime-panel", text)]
