"""CLI pieces without a database or real server: parsing, the Airflow CLI entry, paste mode, status output."""

from __future__ import annotations

import argparse
import io
import json
from typing import Any
from urllib.parse import parse_qsl

import pytest

from airflow_oauth_connector import cli
from airflow_oauth_connector.cli import Console, authorize_paste, main
from airflow_oauth_connector.exceptions import CliError, OAuthConnectorError
from airflow_oauth_connector.token import Token
from tests.support.builders import AUTHORIZE_URL, make_profile, set_connection


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
    assert set(commands) == {"authorize", "status", "check", "forget"}
    parser = argparse.ArgumentParser()
    for arg in commands["authorize"].args:
        arg.add_to_parser(parser)
    args = parser.parse_args(["c", "--device", "--port", "8080"])
    assert (args.conn_id, args.mode, args.port) == ("c", "device", 8080)


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

    def authorization_request(self, *, redirect_uri: str | None = None, state: str | None = None) -> Any:
        from airflow_oauth_connector.grants import build_authorization_request

        return build_authorization_request(self.profile, AUTHORIZE_URL, redirect_uri=redirect_uri, state=state)

    def exchange_code(
        self, code: str, *, code_verifier: str | None, redirect_uri: str | None, nonce: str | None = None
    ) -> Token:
        self.calls.append({"code": code, "code_verifier": code_verifier, "redirect_uri": redirect_uri, "nonce": nonce})
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
    assert call["nonce"] is None  # no openid scope: no nonce sent, none to check


def test_paste_hands_the_requests_oidc_nonce_to_the_exchange() -> None:
    fake, console, _ = _paste(lambda state: f"https://airflow.example.com/callback?code=C1&state={state}\n")
    fake.profile = make_profile(
        grant_type="authorization_code",
        authorize_url=AUTHORIZE_URL,
        redirect_uri="https://airflow.example.com/callback",
        scope="openid offline_access",
    )
    authorize_paste(fake.profile, fake, console, open_browser=False)  # type: ignore[arg-type]
    (call,) = fake.calls
    printed = console.out.getvalue().split()  # type: ignore[attr-defined]
    sent = dict(parse_qsl(next(w for w in printed if w.startswith(AUTHORIZE_URL)).split("?", 1)[1]))
    assert call["nonce"]
    assert call["nonce"] == sent["nonce"]


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
    with pytest.raises(OAuthConnectorError, match=message):  # CliError, or the shared parser's AuthorizationError
        authorize_paste(fake.profile, fake, console, open_browser=False)  # type: ignore[arg-type]
    assert fake.calls == []


def test_paste_needs_redirect_uri() -> None:
    profile = make_profile(grant_type="authorization_code", authorize_url=AUTHORIZE_URL)
    with pytest.raises(CliError, match="no redirect URI"):
        authorize_paste(profile, object(), Console(), open_browser=False)  # type: ignore[arg-type]


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


def test_status_shows_the_last_failure_and_the_last_success(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_oauth_connector.authorization import FailureInfo, ProfileStatus

    at = 1_795_915_380.0  # 2026-11-29 01:23 UTC
    failing = ProfileStatus(
        "crm",
        "client_credentials",
        "failing",
        last_failure=FailureInfo(kind="invalid_client", message="unknown client", at=at, where="sync/pull/try 1"),
        last_success=at - 3600,
    )
    monkeypatch.setattr(cli.authorization, "connection_status", lambda conn_id: failing)
    out = io.StringIO()
    assert main(["status", "crm"], stdout=out) == 0
    assert out.getvalue().splitlines() == [
        "crm: last failure: invalid_client at 2026-11-29 01:23 UTC in sync/pull/try 1: unknown client",
        "  last success: 2026-11-29 00:23 UTC",
    ]
    out = io.StringIO()
    assert main(["status", "crm", "--json"], stdout=out) == 0
    [data] = json.loads(out.getvalue())
    assert data["last_failure"] == {
        "kind": "invalid_client",
        "message": "unknown client",
        "at": at,
        "where": "sync/pull/try 1",
    }


def test_status_shows_the_refresh_tokens_stated_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from airflow_oauth_connector.authorization import FailureInfo, ProfileStatus

    soon = time.time() + 3 * 86400 + 600
    failing = ProfileStatus(
        "crm",
        "authorization_code",
        "failing",
        refresh_token_present=True,
        last_failure=FailureInfo(kind="unreachable", message="down", at=None, where="test"),
        refresh_expires_at=soon,
    )
    authorized = ProfileStatus(
        "crm", "authorization_code", "authorized", refresh_token_present=True, refresh_expires_at=soon
    )
    statuses = {"a": failing, "b": authorized}
    monkeypatch.setattr(cli.authorization, "connection_status", lambda conn_id: statuses[conn_id])
    out = io.StringIO()
    assert main(["status", "a", "b"], stdout=out) == 0
    expiry = "refresh token expires in 3 days — authorize again before then"
    assert out.getvalue().splitlines() == [
        "crm: last failure: unreachable in test: down",
        f"  {expiry}",
        f"crm: authorized; no token cached yet (obtained on first use); {expiry}",
    ]
    out = io.StringIO()
    assert main(["status", "a", "--json"], stdout=out) == 0
    [data] = json.loads(out.getvalue())
    assert (data["refresh_expires_at"], data["refresh_expiry_text"]) == (soon, expiry)


def test_a_failed_authorization_is_recorded_as_in_the_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_oauth_connector.exceptions import InvalidGrantError

    profile = make_profile(grant_type="authorization_code", authorize_url=AUTHORIZE_URL)
    recorded: list[tuple[str, str]] = []
    monkeypatch.setattr(cli.authorization, "stored_profile", lambda conn_id: profile)

    def failing_exchange(*args: object, **kwargs: object) -> None:
        raise InvalidGrantError("invalid_grant", "code expired")

    monkeypatch.setattr(cli, "authorize_loopback", failing_exchange)
    monkeypatch.setattr(
        cli.authorization,
        "record_failure",
        lambda p, exc, where: recorded.append((type(exc).__name__, getattr(where, "value", where))),
    )
    err = io.StringIO()
    assert main(["authorize", profile.conn_id, "--no-browser"], stderr=err) == 1
    assert recorded == [("InvalidGrantError", "cli")]
    assert "code expired" in err.getvalue()


def test_check_lists_every_labelled_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    good = set_connection(monkeypatch, "good_api")
    bad = set_connection(
        monkeypatch, "bad_api", grant_type="authorization_code", access_url="http://auth.example.com/token"
    )
    out, err = io.StringIO(), io.StringIO()
    assert main(["check", good, bad], stdout=out, stderr=err) == 1
    assert out.getvalue().splitlines() == [
        "good_api: settings OK",
        "bad_api: 2 invalid settings",
        "  - Access token URL (access_url): must use https (plain http is only accepted for loopback hosts, or "
        "with 'allow_insecure_http')",
        "  - Authorization URL (authorize_url): required for authorization code (or set Issuer URL for discovery, "
        "or pick a provider preset that gives it)",
    ]
    out = io.StringIO()
    assert main(["check", good, "--json"], stdout=out) == 0
    assert json.loads(out.getvalue()) == [{"conn_id": "good_api", "valid": True, "problems": []}]


def test_check_an_undefined_connection(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "no_such_conn_for_check"]) == 1
    assert "Connection 'no_such_conn_for_check' is not defined" in capsys.readouterr().err


def _device_preset(monkeypatch: pytest.MonkeyPatch, slug: str, device_url: str) -> None:
    """A provider preset that gives the device authorization endpoint (none of the shipped ones does), valid
    against the presets' schema, served by ``load_preset`` for the test."""
    from importlib import resources
    from types import MappingProxyType

    import jsonschema

    from airflow_oauth_connector import presets

    data = {
        "name": "Device Test",
        "docs": "https://auth.example.com/docs",
        "fields": {
            "grant_type": "authorization_code",
            "authorize_url": AUTHORIZE_URL,
            "access_url": "https://auth.example.com/oauth/token",
            "device_url": device_url,
            "host": "https://api.example.com",
        },
        "sources": {
            name: "https://auth.example.com/docs"
            for name in ("grant_type", "authorize_url", "access_url", "device_url", "host")
        },
        "register": {"app": "an app at auth.example.com", "redirect_uri": "the loopback URL", "scopes": "none"},
        "quirks": [],
    }
    schema = json.loads(resources.files(presets).joinpath("schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(data, schema)  # a preset file may carry device_url
    preset = presets.Preset(
        slug=slug,
        name=data["name"],
        fields=MappingProxyType(data["fields"]),
        params=MappingProxyType({}),
        grant_fields=MappingProxyType({}),
        param_fields=MappingProxyType({}),
        scope_extra=MappingProxyType({}),
        raw=MappingProxyType(data),
    )
    shipped = presets.load_preset
    monkeypatch.setattr(presets, "load_preset", lambda name: preset if name == slug else shipped(name))


def test_authorize_device_reads_the_connection_once_and_takes_the_presets_device_url(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from airflow_oauth_connector.authorization import repository
    from tests.support.authorization import add_connection, authorized_token, db_extra
    from tests.support.connection_table import connection_table

    device_url = "https://auth.example.com/oauth/device"
    _device_preset(monkeypatch, "device_test", device_url)
    reads: list[str] = []
    read = repository.stored_connection
    monkeypatch.setattr(repository, "stored_connection", lambda db, conn_id: reads.append(conn_id) or read(db, conn_id))
    asked: list[tuple[str, int]] = []

    def device_grant(profile: Any, client: Any, url: str, console: Console, **options: Any) -> Token:
        asked.append((url, len(reads)))
        return authorized_token()

    monkeypatch.setattr(cli, "authorize_device", device_grant)
    with connection_table(tmp_path / "connections.db"):
        conn_id = add_connection({"provider": "device_test"})
        out, err = io.StringIO(), io.StringIO()
        assert main(["authorize", conn_id, "--device", "--no-browser"], stdout=out, stderr=err) == 0, err.getvalue()
        assert asked == [(device_url, 1)]  # the preset's endpoint, from the one read before the grant
        assert db_extra(conn_id)["refresh_token"] == authorized_token().refresh_token
    assert f"Authorized {conn_id!r}" in out.getvalue()


def test_the_connections_own_device_url_wins_over_the_presets(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_oauth_connector.grants import device

    _device_preset(monkeypatch, "device_test", "https://auth.example.com/oauth/device")
    own = "https://other.example.com/device"
    profile = make_profile({"provider": "device_test"}, with_access_url=False)
    assert device.device_endpoint(profile, object()) == "https://auth.example.com/oauth/device"  # type: ignore[arg-type]
    profile = make_profile({"provider": "device_test", "device_url": own}, with_access_url=False)
    assert device.device_endpoint(profile, object()) == own  # type: ignore[arg-type]


def test_check_and_the_hook_find_the_same_problems(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_oauth_connector.hooks import OAuthConnectorHook

    bad = set_connection(monkeypatch, "bad_api", grant_type="authorization_code", device_url="http://x.example/d")
    problems = cli.settings_problems(bad)
    assert [p.field for p in problems] == ["authorize_url", "device_url"]
    assert OAuthConnectorHook(bad).settings_problems() == problems


def test_status_shows_a_test_refused_for_invalid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_oauth_connector.hooks import OAuthConnectorHook

    conn_id = set_connection(monkeypatch, "cli_invalid", access_url="http://auth.example.com/oauth/token")
    assert OAuthConnectorHook(conn_id).test_connection()[0] is False
    out = io.StringIO()
    assert main(["status", conn_id], stdout=out) == 1  # still an error: the settings are invalid
    [line] = out.getvalue().splitlines()
    assert line.startswith(f"{conn_id}: last failure: invalid_settings at ")
    assert f" in test: Connection {conn_id!r}: Access token URL (access_url): must use https" in line
    out = io.StringIO()
    main(["status", conn_id, "--json"], stdout=out)
    [data] = json.loads(out.getvalue())
    assert (data["state"], data["last_failure"]["kind"], data["last_failure"]["where"]) == (
        "error",
        "invalid_settings",
        "test",
    )
