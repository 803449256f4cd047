"""CLI pieces without a database or real server: parsing, redirect checks, the listener, device polling."""

from __future__ import annotations

import argparse
import io
import json
import time
from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests

from airflow_oauth_connector import cli
from airflow_oauth_connector.cli import (
    DEVICE_GRANT,
    CallbackListener,
    CliError,
    Console,
    DeviceAuthorization,
    authorize_paste,
    code_from_redirect,
    device_endpoint,
    main,
    poll_device_token,
    request_device_authorization,
)
from airflow_oauth_connector.exceptions import InvalidClientError, TokenEndpointError
from airflow_oauth_connector.token import Token
from tests.support.builders import AUTHORIZE_URL, CLIENT_SECRET, Clock, make_client, make_profile
from tests.support.fake_http import FakeTransport

STATE = "expected-state-0123456789"


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["authorize"]) == 2
    assert main(["authorize", "c", "--device", "--paste"]) == 2
    assert main(["authorize", "c", "--port", "70000"]) == 2
    assert main(["authorize", "c", "--timeout", "-1"]) == 2
    assert main(["frobnicate"]) == 2
    assert main(["--help"]) == 0
    assert "authorize" in capsys.readouterr().out


def test_parser_defaults_and_modes() -> None:
    parser = cli.build_parser()
    args = parser.parse_args(["authorize", "c"])
    assert (args.mode, args.port, args.no_browser, args.timeout) == ("loopback", 0, False, None)
    assert parser.parse_args(["authorize", "c", "--device"]).mode == "device"
    assert parser.parse_args(["authorize", "c", "--paste", "--timeout", "5"]).timeout == 5.0
    assert parser.parse_args(["status"]).conn_ids == []
    assert parser.parse_args(["status", "a", "b", "--json"]).as_json is True


def test_airflow_cli_commands_parse_the_same() -> None:
    (group,) = cli.get_cli_commands()
    assert group.name == "oauth-connector"
    commands = {c.name: c for c in group.subcommands}
    assert set(commands) == {"authorize", "status", "forget"}
    parser = argparse.ArgumentParser()
    for arg in commands["authorize"].args:
        arg.add_to_parser(parser)
    args = parser.parse_args(["c", "--device", "--port", "8080"])
    assert (args.conn_id, args.mode, args.port) == ("c", "device", 8080)


def test_code_from_redirect() -> None:
    assert code_from_redirect({"code": "abc", "state": STATE}, STATE) == "abc"
    with pytest.raises(CliError, match="'state' does not match"):
        code_from_redirect({"code": "abc", "state": "other"}, STATE)
    with pytest.raises(CliError, match="'state' does not match"):
        code_from_redirect({"code": "abc"}, STATE)
    with pytest.raises(CliError, match=r"access_denied.*denied at the consent step"):
        code_from_redirect({"error": "access_denied", "state": STATE}, STATE)
    with pytest.raises(CliError, match="neither a 'code' nor an 'error'"):
        code_from_redirect({"state": STATE}, STATE)
    with pytest.raises(CliError) as info:
        code_from_redirect({"error": "bad\x1b[31m", "error_description": "x\ny", "state": STATE}, STATE)
    assert "\x1b" not in str(info.value)
    assert "\n" not in str(info.value)


def test_listener_takes_one_callback_and_never_echoes_it() -> None:
    with CallbackListener() as listener:
        assert listener.redirect_uri == f"http://127.0.0.1:{listener.port}/callback"
        assert requests.get(f"http://127.0.0.1:{listener.port}/favicon.ico", timeout=5).status_code == 404
        first = requests.get(f"{listener.redirect_uri}?code=CODE-SENTINEL&state=s1", timeout=5)
        second = requests.get(f"{listener.redirect_uri}?code=OTHER&state=s2", timeout=5)
        assert listener.wait(1) == {"code": "CODE-SENTINEL", "state": "s1"}
    assert first.status_code == 200
    assert "close this window" in first.text
    assert "CODE-SENTINEL" not in first.text
    assert first.headers["Cache-Control"] == "no-store"
    assert second.status_code == 409


def test_listener_error_page_is_escaped() -> None:
    with CallbackListener() as listener:
        page = requests.get(f"{listener.redirect_uri}?error=%3Cscript%3E&state=s", timeout=5)
        assert listener.wait(1) == {"error": "<script>", "state": "s"}
    assert "<script>" not in page.text
    assert "&lt;script&gt;" in page.text


def test_listener_times_out() -> None:
    with CallbackListener() as listener:
        started = time.monotonic()
        assert listener.wait(0.2) is None
        assert time.monotonic() - started < 2


def test_listener_port_in_use() -> None:
    with CallbackListener() as busy, pytest.raises(CliError, match="Cannot listen"):
        CallbackListener(busy.port)


class FakeExchange:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.profile = make_profile(
            grant_type="authorization_code",
            authorize_url=AUTHORIZE_URL,
            redirect_uri="https://airflow.example.com/callback",
        )

    @property
    def endpoints(self) -> Any:
        return type("E", (), {"authorize_url": AUTHORIZE_URL})()

    def exchange_code(self, code: str, *, code_verifier: str | None, redirect_uri: str | None) -> Token:
        self.calls.append({"code": code, "code_verifier": code_verifier, "redirect_uri": redirect_uri})
        return Token(access_token="at", refresh_token="rt")


def _paste(answer: Any) -> tuple[FakeExchange, Console, str]:
    fake = FakeExchange()
    out = io.StringIO()

    class Input(io.StringIO):
        def readline(self, size: int | None = -1) -> str:
            printed = out.getvalue().split()
            url = next(word for word in printed if word.startswith(AUTHORIZE_URL))
            state = dict(parse_qsl(url.split("?", 1)[1]))["state"]
            return str(answer(state))

    console = Console(out=out, err=io.StringIO(), inp=Input())
    return fake, console, out.getvalue()


def test_paste_exchanges_with_verifier_and_redirect_uri() -> None:
    fake, console, _ = _paste(lambda state: f"https://airflow.example.com/callback?code=C1&state={state}\n")
    token = authorize_paste(fake.profile, fake, console, open_browser=False)  # type: ignore[arg-type]
    assert token.refresh_token == "rt"
    (call,) = fake.calls
    assert call["code"] == "C1"
    assert call["redirect_uri"] == "https://airflow.example.com/callback"
    assert call["code_verifier"]
    assert call["code_verifier"] not in console.out.getvalue()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (lambda state: "\n", "No URL was pasted"),
        (lambda state: "just-a-code\n", "not a redirect URL"),
        (lambda state: "https://x/callback?code=C&state=forged\n", "'state' does not match"),
        (lambda state: f"https://x/callback?error=access_denied&state={state}\n", "access_denied"),
    ],
)
def test_paste_failures_exchange_nothing(answer: Any, message: str) -> None:
    fake, console, _ = _paste(answer)
    with pytest.raises(CliError, match=message):
        authorize_paste(fake.profile, fake, console, open_browser=False)  # type: ignore[arg-type]
    assert fake.calls == []


def test_paste_needs_redirect_uri() -> None:
    profile = make_profile(grant_type="authorization_code", authorize_url=AUTHORIZE_URL)
    with pytest.raises(CliError, match="no redirect URI"):
        authorize_paste(profile, object(), Console(), open_browser=False)  # type: ignore[arg-type]


# -- device grant -------------------------------------------------------------------------------------


def _grant(expires_in: float = 600.0, interval: float = 2.0) -> DeviceAuthorization:
    return DeviceAuthorization(
        "DEVICE-CODE", "ABCD-EFGH", "https://auth.example.com/device", None, expires_in, interval
    )


class ScriptedTokenClient:
    def __init__(self, *outcomes: str) -> None:
        self.outcomes = list(outcomes)
        self.params: list[dict[str, str]] = []

    def request_token(self, grant_params: dict[str, str]) -> Token:
        self.params.append(dict(grant_params))
        outcome = self.outcomes.pop(0)
        if outcome == "token":
            return Token(access_token="at", refresh_token="rt")
        raise TokenEndpointError.create(outcome, None, 400)


def test_device_poll_honours_interval_pending_and_slow_down() -> None:
    client = ScriptedTokenClient("authorization_pending", "slow_down", "authorization_pending", "token")
    clock = Clock(0.0)
    token = poll_device_token(client, _grant(), sleep=clock.sleep, clock=clock)  # type: ignore[arg-type]
    assert token.refresh_token == "rt"
    assert clock.sleeps == [2.0, 2.0, 7.0, 7.0]
    assert client.params[0] == {"grant_type": DEVICE_GRANT, "device_code": "DEVICE-CODE"}


@pytest.mark.parametrize(
    ("outcome", "message"),
    [("access_denied", "denied"), ("expired_token", "expired before it was approved")],
)
def test_device_poll_terminal_errors(outcome: str, message: str) -> None:
    clock = Clock(0.0)
    with pytest.raises(CliError, match=message):
        poll_device_token(ScriptedTokenClient(outcome), _grant(), sleep=clock.sleep, clock=clock)  # type: ignore[arg-type]


def test_device_poll_other_errors_propagate() -> None:
    clock = Clock(0.0)
    with pytest.raises(InvalidClientError):
        poll_device_token(ScriptedTokenClient("invalid_client"), _grant(), sleep=clock.sleep, clock=clock)  # type: ignore[arg-type]


def test_device_poll_stops_at_expiry_or_timeout() -> None:
    clock = Clock(0.0)
    client = ScriptedTokenClient(*["authorization_pending"] * 100)
    with pytest.raises(CliError, match="not approved within 10 s"):
        poll_device_token(client, _grant(expires_in=10), sleep=clock.sleep, clock=clock)  # type: ignore[arg-type]
    assert clock.now <= 10
    clock = Clock(0.0)
    with pytest.raises(CliError, match="not approved within 5 s"):
        poll_device_token(client, _grant(), timeout=5, sleep=clock.sleep, clock=clock)  # type: ignore[arg-type]


def test_device_authorization_request_sends_client_auth_and_scope() -> None:
    transport = FakeTransport()
    device_url = "https://auth.example.com/device_authorization"

    def reply(request: requests.PreparedRequest) -> Any:
        return 200, {"Content-Type": "application/json"}, {
            "device_code": "DC", "user_code": "UC", "verification_url": "https://auth.example.com/device",
            "expires_in": "900", "interval": "0.5",
        }  # fmt: skip

    transport.route("POST", device_url, reply)
    profile = make_profile(grant_type="authorization_code", authorize_url=AUTHORIZE_URL, scope="read write",
                           access_params={"body": {"audience": "api"}})  # fmt: skip
    grant = request_device_authorization(profile, make_client(profile, transport), device_url)
    assert (grant.user_code, grant.verification_uri, grant.expires_in, grant.interval) == (
        "UC", "https://auth.example.com/device", 900.0, 1.0,
    )  # fmt: skip
    assert "DC" not in repr(grant)
    (sent,) = transport.requests
    body = dict(parse_qsl(str(sent.body)))
    assert body == {"audience": "api", "client_id": "client-1", "scope": "read write"}
    assert str(sent.headers["Authorization"]).startswith("Basic ")
    assert CLIENT_SECRET not in str(sent.body)


def test_device_authorization_errors() -> None:
    transport = FakeTransport()
    url = "https://auth.example.com/device_authorization"
    transport.route("POST", url, lambda r: (400, {"Content-Type": "application/json"}, {"error": "invalid_client"}))
    profile = make_profile(grant_type="authorization_code", authorize_url=AUTHORIZE_URL)
    with pytest.raises(InvalidClientError):
        request_device_authorization(profile, make_client(profile, transport), url)
    transport = FakeTransport()
    transport.route("POST", url, lambda r: (200, {"Content-Type": "application/json"}, {"device_code": "x"}))
    with pytest.raises(CliError, match="lacks device_code, user_code or verification_uri"):
        request_device_authorization(profile, make_client(profile, transport), url)


def test_device_endpoint_from_extra_then_discovery(monkeypatch: pytest.MonkeyPatch) -> None:
    issuer = "https://auth.example.com"
    metadata = {"token_endpoint": f"{issuer}/token", "device_authorization_endpoint": f"{issuer}/device"}
    transport = FakeTransport()
    transport.route("GET", f"{issuer}/.well-known/", lambda r: (200, {"Content-Type": "application/json"}, metadata))
    profile = make_profile(grant_type="authorization_code", authorize_url=AUTHORIZE_URL, issuer_url=issuer)
    extra: dict[str, Any] = {}
    monkeypatch.setattr(cli.authorization, "stored_extra", lambda conn_id: extra)
    assert device_endpoint(profile, make_client(profile, transport)) == f"{issuer}/device"
    extra["device_url"] = "https://other.example.com/device"
    assert device_endpoint(profile, make_client(profile, transport)) == "https://other.example.com/device"
    extra["device_url"] = "http://insecure.example.com/device"
    with pytest.raises(Exception, match="device_url"):
        device_endpoint(profile, make_client(profile, transport))
    no_issuer = make_profile(grant_type="authorization_code", authorize_url=AUTHORIZE_URL)
    extra.clear()
    with pytest.raises(CliError, match="no device authorization endpoint"):
        device_endpoint(no_issuer, make_client(no_issuer, FakeTransport()))


def test_status_json_lists_statuses(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_oauth_connector.authorization import ProfileStatus

    statuses = {
        "a": ProfileStatus("a", "authorization_code", "not_authorized"),
        "b": ProfileStatus("b", "client_credentials", "ready"),
    }
    monkeypatch.setattr(cli.authorization, "list_connection_ids", lambda: ["a", "b"])
    monkeypatch.setattr(cli.authorization, "connection_status", lambda conn_id: statuses[conn_id])
    out = io.StringIO()
    assert main(["status", "--json"], stdout=out) == 0
    assert [s["state"] for s in json.loads(out.getvalue())] == ["not_authorized", "ready"]
    out = io.StringIO()
    assert main(["status"], stdout=out) == 0
    assert out.getvalue().splitlines()[0].startswith("a: not authorized yet")
    statuses["b"] = ProfileStatus("b", "unknown", "error", last_error="bad")
    assert main(["status"], stdout=io.StringIO()) == 1
