"""The ``airflow-oauth-connector`` CLI end to end against the real authorization server (DOT on loopback)."""

from __future__ import annotations

import io
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TextIO
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
import requests

from airflow_oauth_connector import authorization
from airflow_oauth_connector.cli import main
from airflow_oauth_connector.hooks import OAuthConnectorHook
from airflow_oauth_connector.store import MemoryTokenStore
from airflow_oauth_connector.store.factory import store_for

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("file_token_store")]

URL_PATTERN = re.compile(r"^\s+(https?://\S+)$", re.M)
USER_CODE_PATTERN = re.compile(r"enter the code: (\S+)")


@pytest.fixture
def db_conn(airflow_db: Any, auth_server: Any) -> Iterator[Callable[..., str]]:
    """Create oauth_connector connections for the server's clients in the SQLite metadata DB."""
    from airflow.models import Connection
    from airflow.utils.session import create_session

    created: list[str] = []

    def make(client: str = "ac", *, secret: str | None = "default", **extra: Any) -> str:
        c = auth_server.client(client)
        conn_id = f"cli_{client}_{uuid.uuid4().hex[:8]}"
        fields: dict[str, Any] = {
            "grant_type": "authorization_code",
            "access_url": auth_server.token_url,
            "authorize_url": auth_server.authorize_url,
            "scope": "read write",
            "client_auth": "header" if c.client_secret else "none",
        }
        fields.update(extra)
        with create_session() as session:
            session.add(
                Connection(
                    conn_id=conn_id,
                    conn_type="oauth_connector",
                    host=auth_server.api_base,
                    login=c.client_id,
                    password=c.client_secret if secret == "default" else secret,
                    extra=json.dumps({k: v for k, v in fields.items() if v is not None}),
                )
            )
        created.append(conn_id)
        return conn_id

    yield make
    with create_session() as session:
        session.query(Connection).filter(Connection.conn_id.in_(created)).delete(synchronize_session=False)


class Run:
    """``main(argv)`` in a thread, its output captured; the test acts as the browser meanwhile."""

    def __init__(self, argv: list[str], stdin: TextIO | None = None) -> None:
        self.out = io.StringIO()
        self.err = io.StringIO()
        self.stdin = stdin or io.StringIO()
        self.code: int | None = None
        self.thread = threading.Thread(target=self._run, args=(argv,), daemon=True)
        self.thread.start()

    def _run(self, argv: list[str]) -> None:
        self.code = main(argv, stdin=self.stdin, stdout=self.out, stderr=self.err)

    def wait_for(self, pattern: re.Pattern[str], timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = pattern.search(self.out.getvalue())
            if found:
                return found.group(1)
            if not self.thread.is_alive():
                break
            time.sleep(0.02)
        raise AssertionError(f"no {pattern.pattern!r} in output: {self.output}")

    def finish(self, timeout: float = 30.0) -> int:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"CLI still running: {self.output}"
        assert self.code is not None
        return self.code

    @property
    def output(self) -> str:
        return self.out.getvalue() + self.err.getvalue()


def extra_of(conn_id: str) -> dict[str, Any]:
    from airflow.models import Connection
    from airflow.utils.session import create_session

    with create_session() as session:
        conn = session.query(Connection).filter_by(conn_id=conn_id).one()
        return dict(conn.extra_dejson)


def assert_no_secrets(text: str, conn_id: str, client_secret: str | None) -> None:
    extra = extra_of(conn_id)
    secrets = [client_secret, extra.get("refresh_token"), extra.get("access_token")]
    profile = authorization.stored_profile(conn_id)
    cached = store_for(profile).load(profile.cache_key)
    if cached is not None:
        secrets += [cached.access_token, cached.refresh_token]
    for secret in secrets:
        if secret:
            assert secret not in text


def assert_nothing_stored(conn_id: str) -> None:
    extra = extra_of(conn_id)
    assert "refresh_token" not in extra
    assert "access_token" not in extra
    profile = authorization.stored_profile(conn_id)
    assert store_for(profile).load(profile.cache_key) is None


def whoami(conn_id: str, monkeypatch: pytest.MonkeyPatch, *, shared_store: bool = False) -> dict[str, Any]:
    """Call the API with a hook, as a task would. Outside a task the SDK reads no DB connections, so the
    stored connection is handed over as an AIRFLOW_CONN_ variable (workers get it from the API server)."""
    from airflow.models import Connection
    from airflow.utils.session import create_session

    with create_session() as session:
        conn = session.query(Connection).filter_by(conn_id=conn_id).one()
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", conn.as_json())
    hook = OAuthConnectorHook(conn_id, token_store=None if shared_store else MemoryTokenStore())
    result: dict[str, Any] = hook.run("whoami").json()
    return result


def test_loopback_end_to_end(db_conn: Callable[..., str], auth_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    conn_id = db_conn("ac")
    run = Run(["authorize", conn_id, "--no-browser", "--port", "0", "--timeout", "30"])
    url = run.wait_for(URL_PATTERN)
    assert "code_challenge_method=S256" in url
    redirect = auth_server.authorize_url_flow(url)
    assert redirect.startswith("http://127.0.0.1:")
    page = requests.get(redirect, timeout=10)
    assert page.status_code == 200
    assert "close this window" in page.text
    code = parse_qs(urlsplit(redirect).query)["code"][0]
    assert code not in page.text
    assert run.finish() == 0, run.output
    assert code not in run.output
    assert f"Authorized {conn_id!r}: authorized; token expires at" in run.output

    extra = extra_of(conn_id)
    assert extra["refresh_token"]
    assert extra["access_token"]
    # A hook on the configured (file) store uses the saved token as is: no token request.
    requests_before = auth_server.stats()["token_requests"]["total"]
    assert whoami(conn_id, monkeypatch, shared_store=True)["user"] == auth_server.username
    assert auth_server.stats()["token_requests"]["total"] == requests_before
    # A hook with an empty cache refreshes from the connection's refresh token.
    assert whoami(conn_id, monkeypatch)["user"] == auth_server.username
    assert auth_server.stats()["token_requests"]["total"] == requests_before + 1
    assert_no_secrets(run.output, conn_id, auth_server.client("ac").client_secret)


def test_paste_end_to_end_public_client(
    db_conn: Callable[..., str], auth_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    redirect_uri = "http://localhost/oauth-connector/callback"
    conn_id = db_conn("public", redirect_uri=redirect_uri)
    holder: dict[str, str] = {}

    class Pasting(io.StringIO):
        """Stdin that "pastes" once the URL has been printed (as a person would)."""

        started = threading.Event()

        def readline(self, size: int | None = -1) -> str:
            assert self.started.wait(10)
            url = run.wait_for(URL_PATTERN)
            holder["redirect"] = auth_server.authorize_url_flow(url)
            return holder["redirect"] + "\n"

    stdin = Pasting()
    run = Run(["authorize", conn_id, "--paste", "--no-browser"], stdin=stdin)
    stdin.started.set()
    assert run.finish() == 0, run.output
    assert holder["redirect"].startswith(redirect_uri + "?")
    assert extra_of(conn_id)["refresh_token"]
    assert whoami(conn_id, monkeypatch)["user"] == auth_server.username
    assert_no_secrets(run.output, conn_id, None)


def test_paste_needs_a_redirect_uri(db_conn: Callable[..., str], capsys: pytest.CaptureFixture[str]) -> None:
    conn_id = db_conn("ac")
    assert main(["authorize", conn_id, "--paste"], stdin=io.StringIO("")) == 1
    assert "has no redirect URI (field 'redirect_uri')" in capsys.readouterr().err


def test_device_end_to_end_with_discovery(
    db_conn: Callable[..., str], auth_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Public device client; the token endpoint comes from the issuer's metadata, the device endpoint from the
    connection's 'device_url' extra (DOT's metadata does not publish device_authorization_endpoint)."""
    conn_id = db_conn(
        "device", access_url=None, authorize_url=None, issuer_url=auth_server.issuer, device_url=auth_server.device_url
    )
    before = auth_server.stats()["device_authorization_requests"]
    run = Run(["authorize", conn_id, "--device", "--no-browser", "--timeout", "30"])
    user_code = run.wait_for(USER_CODE_PATTERN)
    auth_server.approve_device(user_code)
    assert run.finish() == 0, run.output
    assert auth_server.stats()["device_authorization_requests"] == before + 1
    assert extra_of(conn_id)["refresh_token"]
    assert whoami(conn_id, monkeypatch)["user"] == auth_server.username
    assert_no_secrets(run.output, conn_id, None)


def test_device_denied(db_conn: Callable[..., str], auth_server: Any) -> None:
    assert auth_server.device_url
    conn_id = db_conn("device", device_url=auth_server.device_url)
    run = Run(["authorize", conn_id, "--device", "--no-browser", "--timeout", "30"])
    auth_server.approve_device(run.wait_for(USER_CODE_PATTERN), allow=False)
    assert run.finish() == 1
    assert "denied" in run.err.getvalue()
    assert_nothing_stored(conn_id)


def test_access_denied_is_a_clear_failure(db_conn: Callable[..., str], auth_server: Any) -> None:
    conn_id = db_conn("ac")
    run = Run(["authorize", conn_id, "--no-browser", "--timeout", "30"])
    redirect = auth_server.authorize_url_flow(run.wait_for(URL_PATTERN), allow=False)
    assert "error=access_denied" in redirect
    page = requests.get(redirect, timeout=10)
    assert "access_denied" in page.text
    assert run.finish() == 1
    assert "access_denied" in run.err.getvalue()
    assert "nothing was stored" in run.err.getvalue()
    assert_nothing_stored(conn_id)


def test_state_mismatch_is_refused(db_conn: Callable[..., str], auth_server: Any) -> None:
    conn_id = db_conn("ac")
    before = auth_server.stats()["token_requests"]["total"]
    run = Run(["authorize", conn_id, "--no-browser", "--timeout", "30"])
    redirect = auth_server.authorize_url_flow(run.wait_for(URL_PATTERN))
    parts = urlsplit(redirect)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query["state"] = "forged-" + query["state"]
    requests.get(urlunsplit(parts._replace(query=urlencode(query))), timeout=10)
    assert run.finish() == 1
    assert "'state' does not match" in run.err.getvalue()
    assert auth_server.stats()["token_requests"]["total"] == before  # the code was never sent
    assert_nothing_stored(conn_id)


def test_exchange_failure_wrong_secret(db_conn: Callable[..., str], auth_server: Any) -> None:
    conn_id = db_conn("ac", secret="wrong-secret-SENTINEL")
    run = Run(["authorize", conn_id, "--no-browser", "--timeout", "30"])
    redirect = auth_server.authorize_url_flow(run.wait_for(URL_PATTERN))
    requests.get(redirect, timeout=10)
    assert run.finish() == 1
    assert "invalid_client" in run.err.getvalue()
    assert "wrong-secret-SENTINEL" not in run.output
    assert_nothing_stored(conn_id)
    status = authorization.connection_status(conn_id)  # the failed exchange is recorded, "in cli"
    assert status.state == "not_authorized"
    assert status.last_failure is not None
    assert (status.last_failure.kind, status.last_failure.where) == ("invalid_client", "cli")
    assert "wrong-secret-SENTINEL" not in json.dumps(status.to_dict())


def test_timeout(db_conn: Callable[..., str]) -> None:
    conn_id = db_conn("ac")
    started = time.monotonic()
    run = Run(["authorize", conn_id, "--no-browser", "--timeout", "0.5"])
    assert run.finish() == 1
    assert time.monotonic() - started < 10
    assert "No authorization arrived within" in run.err.getvalue()
    assert_nothing_stored(conn_id)


def test_status_and_forget(db_conn: Callable[..., str], auth_server: Any, capsys: pytest.CaptureFixture[str]) -> None:
    fresh = db_conn("ac")
    authorized = db_conn("ac")
    run = Run(["authorize", authorized, "--no-browser", "--timeout", "30"])
    requests.get(auth_server.authorize_url_flow(run.wait_for(URL_PATTERN)), timeout=10)
    assert run.finish() == 0, run.output

    assert main(["status", fresh, authorized]) == 0
    out = capsys.readouterr().out
    assert f"{fresh}: not authorized yet" in out
    assert f"{authorized}: authorized; token expires at " in out
    assert_no_secrets(out, authorized, auth_server.client("ac").client_secret)

    code = main(["status"])  # every oauth_connector connection in the DB (other tests' too)
    listed = capsys.readouterr().out
    assert code == (1 if ": error: " in listed else 0)
    assert f"{fresh}: " in listed
    assert f"{authorized}: " in listed

    assert main(["status", "--json", authorized]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data[0]["state"] == "authorized"
    assert data[0]["refresh_token_present"] is True

    assert_no_secrets(out + listed, authorized, auth_server.client("ac").client_secret)
    assert main(["forget", authorized]) == 0
    assert "not authorized yet" in capsys.readouterr().out
    assert_nothing_stored(authorized)

    assert main(["status", "cli_no_such_connection"]) == 1
    assert "error: Connection 'cli_no_such_connection' is not defined" in capsys.readouterr().out


def test_client_credentials_connection_needs_no_authorization(
    db_conn: Callable[..., str], capsys: pytest.CaptureFixture[str]
) -> None:
    conn_id = db_conn("cc", grant_type="client_credentials", authorize_url=None)
    assert main(["authorize", conn_id, "--no-browser"]) == 1
    assert "needs no authorization" in capsys.readouterr().err
    assert main(["status", conn_id]) == 0
    assert f"{conn_id}: not tested yet: no token requested so far" in capsys.readouterr().out


def test_authorize_env_var_connection_fails_before_the_browser(
    monkeypatch: pytest.MonkeyPatch, airflow_db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_CLI_ENV_ONLY",
        json.dumps({"conn_type": "oauth_connector", "host": "https://api.example.com", "login": "x"}),
    )
    assert main(["authorize", "cli_env_only", "--no-browser"]) == 1
    err = capsys.readouterr().err
    assert "not stored in the Airflow metadata database" in err
    assert "http" not in err.split("database", 1)[0]  # no URL was printed before the check


def test_check_reads_the_metadata_database(db_conn: Callable[..., str], capsys: pytest.CaptureFixture[str]) -> None:
    good = db_conn("ac")
    bad = db_conn("ac", authorize_url=None, access_params='{"body": {"audience": "x"} "query": {}}')
    assert main(["check"]) == 1  # every oauth_connector connection in the DB: `bad` among them
    listed = capsys.readouterr().out
    assert f"{good}: settings OK" in listed
    assert f"{bad}: 2 invalid settings\n" in listed
    assert main(["check", "--json", bad]) == 1
    (entry,) = json.loads(capsys.readouterr().out)  # nothing but the JSON on stdout
    assert entry["valid"] is False
    assert [p["text"] for p in entry["problems"]] == [
        "Authorization URL (authorize_url): required for authorization code (or set Issuer URL for discovery, or "
        "pick a provider preset that gives it)",
        "Token parameters (access_params): not valid JSON near character 27",
    ]
    assert main(["check", good]) == 0


@pytest.mark.timeout(120)
def test_json_output_is_all_stdout_holds_though_airflow_logs_while_it_runs(tmp_path: Any) -> None:
    """
    The installed command in a process of its own: Airflow logs to the process's stdout while it reads a
    connection (here: its warning that a secret is too short to mask), yet ``--json`` callers parse stdout
    whole; the log lines go to stderr.
    """
    import os
    import shutil
    import subprocess
    import sys

    command = shutil.which("airflow-oauth-connector", path=os.path.dirname(sys.executable))
    assert command is not None
    conn = {"conn_type": "oauth_connector", "host": "https://api.example.com", "login": "c", "password": "s",
            "extra": {"access_url": "https://auth.example.com/oauth/token"}}  # fmt: skip
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW_CONN_SHORT_SECRET": json.dumps(conn)}
    done = subprocess.run(
        [command, "check", "short_secret", "--json"], env=env, capture_output=True, text=True, timeout=100
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "too short" in done.stderr  # Airflow did log, to stderr
    checked = json.loads(done.stdout)  # stdout is the JSON alone
    assert [entry["conn_id"] for entry in checked] == ["short_secret"]
