"""The RFC 8628 device authorization grant: endpoint, user-code request, polling."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests

from airflow_oauth_connector.exceptions import AuthorizationError, InvalidClientError, ProfileError, TokenEndpointError
from airflow_oauth_connector.grants.device import (
    DEVICE_GRANT,
    DeviceAuthorization,
    device_endpoint,
    poll_device_token,
    request_device_authorization,
)
from airflow_oauth_connector.token import Token
from tests.support.builders import AUTHORIZE_URL, CLIENT_SECRET, Clock, make_client, make_profile
from tests.support.fake_http import FakeTransport


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
    with pytest.raises(AuthorizationError, match=message):
        poll_device_token(ScriptedTokenClient(outcome), _grant(), sleep=clock.sleep, clock=clock)  # type: ignore[arg-type]


def test_device_poll_other_errors_propagate() -> None:
    clock = Clock(0.0)
    with pytest.raises(InvalidClientError):
        poll_device_token(ScriptedTokenClient("invalid_client"), _grant(), sleep=clock.sleep, clock=clock)  # type: ignore[arg-type]


def test_device_poll_stops_at_expiry_or_timeout() -> None:
    clock = Clock(0.0)
    client = ScriptedTokenClient(*["authorization_pending"] * 100)
    with pytest.raises(AuthorizationError, match="not approved within 10 s"):
        poll_device_token(client, _grant(expires_in=10), sleep=clock.sleep, clock=clock)  # type: ignore[arg-type]
    assert clock.now <= 10
    clock = Clock(0.0)
    with pytest.raises(AuthorizationError, match="not approved within 5 s"):
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
    with pytest.raises(AuthorizationError, match="lacks device_code, user_code or verification_uri"):
        request_device_authorization(profile, make_client(profile, transport), url)


def test_device_endpoint_from_the_field_then_discovery() -> None:
    issuer = "https://auth.example.com"
    metadata = {"token_endpoint": f"{issuer}/token", "device_authorization_endpoint": f"{issuer}/device"}
    transport = FakeTransport()
    transport.route("GET", f"{issuer}/.well-known/", lambda r: (200, {"Content-Type": "application/json"}, metadata))
    profile = make_profile(grant_type="authorization_code", authorize_url=AUTHORIZE_URL, issuer_url=issuer)
    assert device_endpoint(profile, make_client(profile, transport)) == f"{issuer}/device"
    explicit = "https://other.example.com/device"
    with_field = make_profile(
        grant_type="authorization_code", authorize_url=AUTHORIZE_URL, issuer_url=issuer, device_url=explicit
    )
    assert device_endpoint(with_field, make_client(with_field, transport)) == explicit
    with pytest.raises(ProfileError, match="device_url"):  # checked as the connection is read, like every URL
        make_profile(grant_type="authorization_code", authorize_url=AUTHORIZE_URL, device_url="http://x.example/d")
    no_issuer = make_profile(grant_type="authorization_code", authorize_url=AUTHORIZE_URL)
    with pytest.raises(AuthorizationError, match="no device authorization endpoint"):
        device_endpoint(no_issuer, make_client(no_issuer, FakeTransport()))
