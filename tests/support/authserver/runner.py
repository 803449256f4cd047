"""Start/stop the test authorization server as a subprocess and drive its
browser-side steps (login + consent, device approval) over plain HTTP.

This module imports neither Django nor DOT: it only needs ``requests``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import requests

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_START_TIMEOUT = 90.0  # a busy CI machine: Django start-up and migrations


class AuthServerError(RuntimeError):
    """The server failed to start, or a browser-side step failed."""


@dataclass(frozen=True)
class Client:
    name: str
    client_id: str
    client_secret: str | None  # None for public clients
    redirect_uris: list[str]
    grant_types: list[str]
    client_type: str = "confidential"
    pkce_required: bool = False

    @property
    def is_public(self) -> bool:
        return self.client_secret is None


class _FormParser(HTMLParser):
    """Collect <form> elements with their inputs (enough for Django's forms)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict[str, Any]] = []
        self._current: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self._current = {
                "id": a.get("id", ""),
                "action": a.get("action", ""),
                "method": a.get("method", "get").lower(),
                "inputs": [],
                "buttons": [],
            }
            self.forms.append(self._current)
        elif self._current is not None and tag == "input":
            self._current["inputs"].append(a)
        elif self._current is not None and tag == "button":
            self._current["buttons"].append(a)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def _forms(html: str) -> list[dict[str, Any]]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


def _form_fields(form: dict[str, Any]) -> dict[str, str]:
    """Values of hidden/text inputs (not submit buttons) of a parsed form."""
    out = {}
    for inp in form["inputs"]:
        if inp.get("type", "text").lower() in ("submit", "button", "image", "reset"):
            continue
        if inp.get("name"):
            out[inp["name"]] = inp.get("value", "")
    return out


def _page_error(resp: requests.Response) -> str:
    text = resp.text
    # DOT's error page: <h2>Error: xxx</h2><p>description</p>
    import re

    m = re.search(r"<h2>\s*Error:\s*(.*?)</h2>\s*<p>(.*?)</p>", text, re.S)
    if m:
        return f"{m.group(1).strip()}: {m.group(2).strip()}"
    return text[:300]


@dataclass
class AuthServer:
    """Handle on a running server subprocess."""

    base_url: str
    issuer: str
    token_url: str
    authorize_url: str
    device_url: str | None
    api_base: str
    clients: dict[str, Client]
    username: str = ""
    password: str = field(default="", repr=False)
    discovery_url: str = ""
    revoke_url: str = ""
    introspect_url: str = ""
    userinfo_url: str = ""
    jwks_url: str = ""
    device_verification_url: str | None = None
    access_token_lifetime: int = 300
    data_dir: Path | None = None
    log_path: Path | None = None
    ready: dict[str, Any] = field(default_factory=dict, repr=False)
    process: subprocess.Popen | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ basics
    @property
    def port(self) -> int:
        return int(urlsplit(self.base_url).port or 0)

    def client(self, name_or_id: str) -> Client:
        if name_or_id in self.clients:
            return self.clients[name_or_id]
        for c in self.clients.values():
            if c.client_id == name_or_id:
                return c
        raise KeyError(f"unknown client {name_or_id!r}; known: {sorted(self.clients)}")

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    # ------------------------------------------------------------- test hooks
    def stats(self) -> dict[str, Any]:
        """Server-side counters.

        ``{"token_requests": {"total", "errors", "by_grant_type", "by_client_id",
        "by_grant_type_and_client_id", "by_auth_method", "by_status"},
        "device_authorization_requests": int,
        "api_requests": {"total", "unauthorized", "by_client_id", "by_path"}}``
        """
        r = requests.get(self.base_url + "/test/stats", timeout=10)
        r.raise_for_status()
        return r.json()

    def reset_stats(self) -> None:
        r = requests.post(self.base_url + "/test/reset", timeout=10)
        r.raise_for_status()

    def configure(
        self,
        *,
        refresh_grace_seconds: int | None = None,
        token_endpoint_down_seconds: float | None = None,
        refresh_delay_seconds: float | None = None,
    ) -> dict[str, Any]:
        """Change the running server: DOT's refresh-token grace window; the token endpoint down (503) for a
        while; refresh answers held back after the rotation is committed (a refresh in flight to kill)."""
        settings = {
            "refresh_grace_seconds": refresh_grace_seconds,
            "token_endpoint_down_seconds": token_endpoint_down_seconds,
            "refresh_delay_seconds": refresh_delay_seconds,
        }
        body = {name: value for name, value in settings.items() if value is not None}
        r = requests.post(self.base_url + "/test/config", json=body, timeout=10)
        r.raise_for_status()
        return dict(r.json())

    def token_requests(self, limit: int = 200) -> list[dict[str, Any]]:
        """Non-secret metadata of the last token-endpoint requests (oldest first)."""
        r = requests.get(self.base_url + "/test/token-requests", params={"limit": limit}, timeout=10)
        r.raise_for_status()
        return r.json()["requests"]

    # ------------------------------------------------------- browser emulation
    def login_session(self) -> requests.Session:
        """A ``requests.Session`` logged in as the seeded user via the real login form."""
        s = requests.Session()
        login_url = self.base_url + "/accounts/login/"
        page = s.get(login_url, timeout=10)
        page.raise_for_status()
        self._submit_login(s, page)
        return s

    def _submit_login(self, s: requests.Session, page: requests.Response) -> requests.Response:
        forms = [f for f in _forms(page.text) if f["id"] == "loginForm"]
        if not forms:
            raise AuthServerError(f"login form not found at {page.url}")
        fields = _form_fields(forms[0])
        fields.update(username=self.username, password=self.password)
        action = urljoin(page.url, forms[0]["action"] or page.url)
        resp = s.post(action, data=fields, allow_redirects=False, timeout=10, headers={"Referer": page.url})
        if resp.status_code != 302:
            raise AuthServerError(f"login failed (HTTP {resp.status_code})")
        return resp

    def authorize(
        self,
        client: str,
        redirect_uri: str,
        *,
        scope: str,
        state: str,
        code_challenge: str | None,
        code_challenge_method: str = "S256",
        extra_params: dict[str, str] | None = None,
        allow: bool = True,
        response_type: str = "code",
        nonce: str | None = None,
    ) -> str:
        """Act as the browser: open the authorization URL, log in as the
        seeded user through the login form, submit DOT's consent form
        (``allow=False`` presses Cancel) and return the redirect URL the server
        sent back (``redirect_uri?code=...&state=...`` or ``?error=...``).

        Raises :class:`AuthServerError` if the server shows an error page
        instead of redirecting (e.g. unregistered redirect_uri, unknown client).
        """
        c = self.client(client)
        params: dict[str, str] = {
            "response_type": response_type,
            "client_id": c.client_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": state,
        }
        if code_challenge is not None:
            params["code_challenge"] = code_challenge
            params["code_challenge_method"] = code_challenge_method
        if nonce is not None:
            params["nonce"] = nonce
        if extra_params:
            params.update(extra_params)
        url = self.authorize_url + "?" + urlencode(params)
        return self.authorize_url_flow(url, allow=allow)

    def authorize_url_flow(self, url: str, *, allow: bool = True) -> str:
        """Like :meth:`authorize` but starting from a complete authorization URL
        (e.g. one built by the code under test)."""
        s = requests.Session()
        resp = s.get(url, allow_redirects=False, timeout=10)
        login_url = self.base_url + "/accounts/login/"
        for _ in range(5):
            if resp.status_code != 302:
                break
            location = urljoin(resp.url, resp.headers["Location"])
            if not location.startswith(self.base_url + "/"):
                return location  # redirected back to the client (error, or no consent needed)
            if location.startswith(login_url):
                page = s.get(location, timeout=10)
                resp = self._submit_login(s, page)
                continue
            resp = s.get(location, allow_redirects=False, timeout=10)
        if resp.status_code != 200:
            raise AuthServerError(f"authorization failed: HTTP {resp.status_code}: {_page_error(resp)}")
        forms = [f for f in _forms(resp.text) if f["id"] == "authorizationForm"]
        if not forms:
            raise AuthServerError(f"authorization error page: {_page_error(resp)}")
        fields = _form_fields(forms[0])
        if allow:
            fields["allow"] = "Authorize"
        action = urljoin(resp.url, forms[0]["action"] or resp.url)
        result = s.post(action, data=fields, allow_redirects=False, timeout=10, headers={"Referer": resp.url})
        if result.status_code != 302:
            raise AuthServerError(f"consent submission failed: HTTP {result.status_code}: {_page_error(result)}")
        return urljoin(result.url, result.headers["Location"])

    def approve_device(self, user_code: str, *, allow: bool = True) -> None:
        """Log in, enter ``user_code`` on DOT's device page and accept (or deny)."""
        if not self.device_verification_url:
            raise AuthServerError("device grant is not enabled on this server")
        s = self.login_session()
        page = s.get(self.device_verification_url, timeout=10)
        page.raise_for_status()
        forms = [f for f in _forms(page.text) if f["method"] == "post"]
        if not forms:
            raise AuthServerError("device user-code form not found")
        fields = _form_fields(forms[0])
        fields["user_code"] = user_code
        resp = s.post(page.url, data=fields, allow_redirects=False, timeout=10, headers={"Referer": page.url})
        if resp.status_code != 302:
            raise AuthServerError(f"user code rejected: HTTP {resp.status_code}")
        confirm_url = urljoin(resp.url, resp.headers["Location"])
        page = s.get(confirm_url, timeout=10)
        page.raise_for_status()
        forms = [f for f in _forms(page.text) if f["method"] == "post"]
        fields = _form_fields(forms[0])
        fields["action"] = "accept" if allow else "deny"
        resp = s.post(confirm_url, data=fields, allow_redirects=False, timeout=10, headers={"Referer": confirm_url})
        if resp.status_code != 302:
            raise AuthServerError(f"device confirmation failed: HTTP {resp.status_code}")

    # -------------------------------------------------------------- lifecycle
    def stop(self, timeout: float = 10.0) -> None:
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)

    def __enter__(self) -> AuthServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _from_ready(ready: dict[str, Any]) -> AuthServer:
    clients = {
        name: Client(
            name=name,
            client_id=c["client_id"],
            client_secret=c["client_secret"],
            redirect_uris=list(c["redirect_uris"]),
            grant_types=list(c["grant_types"]),
            client_type=c["client_type"],
            pkce_required=bool(c["pkce_required"]),
        )
        for name, c in ready["clients"].items()
    }
    return AuthServer(
        base_url=ready["base_url"],
        issuer=ready["issuer"],
        token_url=ready["token_url"],
        authorize_url=ready["authorize_url"],
        device_url=ready.get("device_url"),
        api_base=ready["api_base"],
        clients=clients,
        username=ready["user"]["username"],
        password=ready["user"]["password"],
        discovery_url=ready["discovery_url"],
        revoke_url=ready["revoke_url"],
        introspect_url=ready["introspect_url"],
        userinfo_url=ready["userinfo_url"],
        jwks_url=ready["jwks_url"],
        device_verification_url=ready.get("device_verification_url"),
        access_token_lifetime=int(ready["access_token_lifetime"]),
        data_dir=Path(ready["data_dir"]),
        ready=ready,
    )


def start_auth_server(
    data_dir: Path,
    *,
    access_token_lifetime: int = 300,
    port: int = 0,
    redirect_uris: list[str] | tuple[str, ...] = (),
    device: bool = True,
    device_interval: int = 1,
    reuse_protection: bool = True,
    refresh_token_lifetime: int | None = None,
    threads: int = 32,
    host: str = "127.0.0.1",
    refresh_grace_seconds: int = 0,
    timeout: float = DEFAULT_START_TIMEOUT,
    python: str | None = None,
    env: dict[str, str] | None = None,
) -> AuthServer:
    """Spawn ``python -m tests.support.authserver`` and wait for its ready file.

    Server stdout/stderr go to ``data_dir/server.log``.  Raises
    :class:`AuthServerError` (with the log tail) if the process dies or is not
    ready within ``timeout`` seconds.
    """
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    ready_file = data_dir / "ready.json"
    ready_file.unlink(missing_ok=True)
    log_path = data_dir / "server.log"

    cmd = [
        python or sys.executable,
        "-m",
        "tests.support.authserver",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--ready-file",
        str(ready_file),
        "--access-token-lifetime",
        str(int(access_token_lifetime)),
        "--device-interval",
        str(int(device_interval)),
        "--threads",
        str(int(threads)),
        "--exit-with-parent",
        "--host",
        host,
        "--refresh-grace-seconds",
        str(int(refresh_grace_seconds)),
    ]
    if host not in ("127.0.0.1", "::1", "localhost"):
        cmd.append("--allow-private-host")
    for uri in redirect_uris:
        cmd += ["--redirect-uri", uri]
    if not device:
        cmd.append("--no-device")
    if not reuse_protection:
        cmd.append("--no-reuse-protection")
    if refresh_token_lifetime is not None:
        cmd += ["--refresh-token-lifetime", str(int(refresh_token_lifetime))]

    child_env = dict(os.environ if env is None else env)
    child_env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT)] + ([child_env["PYTHONPATH"]] if child_env.get("PYTHONPATH") else [])
    )
    child_env.setdefault("PYTHONUNBUFFERED", "1")
    child_env.pop("DJANGO_SETTINGS_MODULE", None)

    with open(log_path, "ab") as log_fh:
        proc = subprocess.Popen(
            cmd,
            cwd=str(REPO_ROOT),
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=log_fh,
            stderr=subprocess.STDOUT,
        )

    def tail() -> str:
        try:
            return "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
        except OSError:
            return ""

    deadline = time.monotonic() + timeout
    while True:
        if ready_file.exists():
            try:
                ready = json.loads(ready_file.read_text())
                break
            except ValueError:
                pass  # being written (should not happen: atomic rename)
        rc = proc.poll()
        if rc is not None:
            raise AuthServerError(f"auth server exited with code {rc} before becoming ready; log tail:\n{tail()}")
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise AuthServerError(f"auth server not ready after {timeout:.0f}s; log tail:\n{tail()}")
        time.sleep(0.05)

    server = _from_ready(ready)
    server.process = proc
    server.log_path = log_path
    return server
