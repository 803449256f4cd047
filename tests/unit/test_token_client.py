from __future__ import annotations

import base64

import pytest

from airflow_oauth_connector.exceptions import (
    EndpointUnreachableError,
    InvalidClientError,
    InvalidGrantError,
    TokenResponseError,
)
from airflow_oauth_connector.grants.device import DEVICE_GRANT
from airflow_oauth_connector.token import Token
from airflow_oauth_connector.token_client import TokenClient
from tests.support.builders import AUTHORIZE_URL, CLIENT_SECRET, TOKEN_URL, make_client, make_profile
from tests.support.fake_http import FakeTransport, TokenServer, form, query


def test_client_credentials_sends_basic_auth_scope_and_token_parameters():
    transport = FakeTransport()
    server = TokenServer()
    transport.route("POST", TOKEN_URL, server)
    profile = make_profile(
        scope="read, write",
        access_params={"query": {"tenant": "t1"}, "headers": {"X-Test-Env": "ci"}, "body": {"audience": "api"}},
    )
    token = make_client(profile, transport, clock=lambda: 1000.0).client_credentials()

    assert token.access_token == "access-1"
    assert token.token_type == "Bearer"
    assert token.expires_at == 1000.0 + 3600
    sent = transport.requests[0]
    assert query(sent) == {"tenant": "t1"}
    assert sent.headers["X-Test-Env"] == "ci"
    assert form(sent) == {"grant_type": "client_credentials", "scope": "read write", "audience": "api"}
    expected = base64.b64encode(f"client-1:{CLIENT_SECRET}".encode()).decode()
    assert sent.headers["Authorization"] == f"Basic {expected}"
    assert CLIENT_SECRET not in (sent.body or "")


def test_body_credentials_and_public_client():
    transport = FakeTransport()
    transport.route("POST", TOKEN_URL, TokenServer())
    make_client(make_profile(client_auth="body"), transport).client_credentials()
    body = form(transport.requests[-1])
    assert body["client_id"] == "client-1"
    assert body["client_secret"] == CLIENT_SECRET
    assert "Authorization" not in transport.requests[-1].headers

    make_client(make_profile(client_auth="none", password=None), transport).client_credentials()
    body = form(transport.requests[-1])
    assert body["client_id"] == "client-1"
    assert "client_secret" not in body
    assert "Authorization" not in transport.requests[-1].headers


def test_token_parameters_reach_refresh_requests_too():
    transport = FakeTransport()
    transport.route("POST", TOKEN_URL, TokenServer())
    profile = make_profile(access_params='{"query": {"q": "1"}, "body": {"resource": "r"}}')
    token = make_client(profile, transport).refresh("refresh-0")
    sent = transport.requests[0]
    assert form(sent) == {"grant_type": "refresh_token", "refresh_token": "refresh-0", "resource": "r"}
    assert query(sent) == {"q": "1"}
    assert token.refresh_token == "refresh-1"


def test_grant_parameters_win_over_token_parameters():
    transport = FakeTransport()
    transport.route("POST", TOKEN_URL, TokenServer())
    profile = make_profile(access_params={"body": {"grant_type": "password"}})
    make_client(profile, transport).client_credentials()
    assert form(transport.requests[0])["grant_type"] == "client_credentials"


#: Token parameters shared by every request, and one of each kind's own (Shopify's ``expiring`` on the exchange).
SCOPED_PARAMS = {
    "body": {"audience": "api", "mode": "shared"},
    "exchange": {"body": {"expiring": "1", "mode": "exchange"}, "headers": {"X-Step": "exchange"}},
    "refresh": {"body": {"mode": "refresh"}, "query": {"r": "1"}},
    "grant": {"body": {"mode": "grant"}, "headers": {"X-Step": "grant"}},
}


def _scoped_client(transport: FakeTransport, **fields: object) -> TokenClient:
    transport.route("POST", TOKEN_URL, TokenServer())
    profile = make_profile(access_params=SCOPED_PARAMS, authorize_url=AUTHORIZE_URL, **fields)
    return make_client(profile, transport)


def test_exchange_parameters_go_on_the_code_exchange_only():
    transport = FakeTransport()
    client = _scoped_client(transport, grant_type="authorization_code")
    client.exchange_code("the-code", code_verifier=None, redirect_uri="http://127.0.0.1:8000/cb")
    client.refresh("refresh-0")
    exchange, refresh = transport.requests
    assert form(exchange) == {
        "grant_type": "authorization_code",
        "code": "the-code",
        "redirect_uri": "http://127.0.0.1:8000/cb",
        "audience": "api",
        "expiring": "1",
        "mode": "exchange",
    }
    assert exchange.headers["X-Step"] == "exchange"
    assert query(exchange) == {}
    assert form(refresh) == {
        "grant_type": "refresh_token",
        "refresh_token": "refresh-0",
        "audience": "api",
        "mode": "refresh",
    }
    assert query(refresh) == {"r": "1"}
    assert "X-Step" not in refresh.headers


@pytest.mark.parametrize(
    ("fields", "grant_type"),
    [
        ({}, "client_credentials"),
        ({"grant_type": "password", "username": "u", "user_password": "p"}, "password"),
        ({"grant_type": "custom", "custom_grant_type": "account_credentials"}, "account_credentials"),
    ],
)
def test_grant_parameters_go_on_new_grants_that_need_no_person(fields, grant_type):
    transport = FakeTransport()
    _scoped_client(transport, **fields).obtain_without_person()
    (sent,) = transport.requests
    assert form(sent)["grant_type"] == grant_type
    assert (form(sent)["mode"], form(sent)["audience"], sent.headers["X-Step"]) == ("grant", "api", "grant")
    assert "expiring" not in form(sent)


def test_the_device_code_poll_is_an_exchange():
    transport = FakeTransport()
    client = _scoped_client(transport, grant_type="authorization_code")
    client.request_token({"grant_type": DEVICE_GRANT, "device_code": "dc"})
    assert form(transport.requests[0])["mode"] == "exchange"


def test_scoped_parameters_stay_off_requests_that_are_no_token_requests():
    transport = FakeTransport()
    transport.route(
        "POST", "https://auth.example.com/par", lambda r: (201, {}, {"request_uri": "urn:x", "expires_in": 60})
    )
    profile = make_profile(access_params=SCOPED_PARAMS)
    make_client(profile, transport).post_form("https://auth.example.com/par", {"client_id": "client-1"})
    assert form(transport.requests[0]) == {"client_id": "client-1", "audience": "api", "mode": "shared"}


def test_refresh_without_new_refresh_token_keeps_the_old_one():
    transport = FakeTransport()
    transport.route("POST", TOKEN_URL, lambda r: (200, {}, {"access_token": "a", "expires_in": "60"}))
    token = make_client(make_profile(), transport).refresh("keep-me")
    assert token.refresh_token == "keep-me"


def test_a_refresh_keeping_the_refresh_token_keeps_the_expiry_previous_states_for_it():
    transport = FakeTransport()
    answers = iter([{"access_token": "a"}, {"access_token": "b", "refresh_token": "new"}])
    transport.route("POST", TOKEN_URL, lambda r: (200, {}, next(answers)))
    client = make_client(make_profile(), transport)
    previous = Token(access_token="-", refresh_expires_at=1_800_000_000.0)
    kept = client.refresh("keep-me", previous=previous)
    assert (kept.refresh_token, kept.refresh_expires_at) == ("keep-me", 1_800_000_000.0)
    rotated = client.refresh("keep-me", previous=previous)
    assert (rotated.refresh_token, rotated.refresh_expires_at) == ("new", None)


def test_code_exchange_sends_code_verifier_and_redirect_uri():
    transport = FakeTransport()
    server = TokenServer()
    transport.route("POST", TOKEN_URL, server)
    profile = make_profile(grant_type="authorization_code", authorize_url="https://auth.example.com/authorize")
    token = make_client(profile, transport).exchange_code(
        "the-code", code_verifier="v" * 50, redirect_uri="http://127.0.0.1:8000/cb"
    )
    assert form(transport.requests[0]) == {
        "grant_type": "authorization_code",
        "code": "the-code",
        "code_verifier": "v" * 50,
        "redirect_uri": "http://127.0.0.1:8000/cb",
    }
    assert token.refresh_token == "refresh-1"


def test_form_encoded_token_response():
    transport = FakeTransport()
    transport.route(
        "POST",
        TOKEN_URL,
        lambda r: (200, {"Content-Type": "application/x-www-form-urlencoded"}, "access_token=abc&expires_in=30"),
    )
    token = make_client(make_profile(), transport, clock=lambda: 0.0).client_credentials()
    assert token.access_token == "abc"
    assert token.expires_at == 30


def test_oauth_errors_are_typed_and_not_retried():
    transport = FakeTransport()
    transport.route(
        "POST", TOKEN_URL, lambda r: (401, {}, {"error": "invalid_client", "error_description": "bad secret"})
    )
    with pytest.raises(InvalidClientError) as info:
        make_client(make_profile(), transport).client_credentials()
    assert info.value.error == "invalid_client"
    assert info.value.description == "bad secret"
    assert len(transport.requests) == 1
    assert CLIENT_SECRET not in str(info.value)

    transport = FakeTransport()
    transport.route("POST", TOKEN_URL, lambda r: (400, {}, {"error": "invalid_grant"}))
    with pytest.raises(InvalidGrantError, match="authorize the connection again"):
        make_client(make_profile(), transport).refresh("old")
    assert len(transport.requests) == 1


def test_transient_token_endpoint_failures_are_retried_then_succeed():
    transport = FakeTransport()
    server = TokenServer()
    replies = iter([(503, {"Retry-After": "2"}, "busy"), (429, {}, "slow down")])
    transport.route("POST", TOKEN_URL, lambda r: next(replies, None) or server(r))
    sleeps: list[float] = []
    token = make_client(make_profile(), transport, sleep=sleeps.append).client_credentials()
    assert token.access_token == "access-1"
    assert len(transport.requests) == 3
    assert sleeps[0] == 2.0


def test_html_error_page_is_a_clear_error():
    transport = FakeTransport()
    transport.route(
        "POST", TOKEN_URL, lambda r: (200, {"Content-Type": "text/html"}, "<html><body>Login</body></html>")
    )
    with pytest.raises(TokenResponseError, match="HTML page"):
        make_client(make_profile(), transport).client_credentials()


def test_unreachable_token_endpoint_is_bounded(monkeypatch):
    import requests

    def refuse(request):
        raise requests.exceptions.ConnectTimeout("connect timed out")

    transport = FakeTransport()
    transport.route("POST", TOKEN_URL, refuse)
    profile = make_profile(retry_max_attempts=3)
    with pytest.raises(EndpointUnreachableError) as info:
        make_client(profile, transport).client_credentials()
    assert info.value.attempts == 3
    assert len(transport.requests) == 3


def test_repr_hides_secrets():
    client = make_client(make_profile(), FakeTransport())
    assert CLIENT_SECRET not in repr(client)
    assert CLIENT_SECRET not in repr(client.profile)


# -- hostile or broken token responses: only documented exception types, bounded work


def token_endpoint(body: bytes, content_type: str = "application/json"):
    transport = FakeTransport()
    transport.route("POST", TOKEN_URL, lambda r: (200, {"Content-Type": content_type}, body))
    return make_client(make_profile(), transport)


def test_oversized_token_response_is_refused():
    body = b'{"access_token": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    with pytest.raises(TokenResponseError, match="over 1024 KiB"):
        token_endpoint(body).client_credentials()


def test_deeply_nested_json_is_a_clear_error():
    body = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(TokenResponseError):
        token_endpoint(body).client_credentials()
    nested = b'{"access_token": "x", "a": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_000 + b"}"
    with pytest.raises(TokenResponseError):
        token_endpoint(nested).client_credentials()


@pytest.mark.parametrize("body", [b"\xff\xfe\x00junk", b'{"access_token": "\xc3\x28"}', b"\x00" * 64])
def test_non_utf8_bodies_are_a_clear_error(body):
    with pytest.raises(TokenResponseError):
        token_endpoint(body, "application/octet-stream").client_credentials()


def test_token_requests_carry_the_client_certificate_and_ca_bundle():
    seen = {}

    class Recording(FakeTransport):
        def send(self, request, **kwargs):
            seen.update(kwargs)
            return super().send(request, **kwargs)

    transport = Recording()
    transport.route("POST", TOKEN_URL, TokenServer())
    profile = make_profile(client_cert="/c.pem", client_key="/k.pem", ca_bundle="/etc/ssl/corp.pem")
    make_client(profile, transport).client_credentials()
    assert seen["cert"] == ("/c.pem", "/k.pem")
    assert seen["verify"] == "/etc/ssl/corp.pem"


# --- issue 13: a refused refresh without a reason; DPoP at the token endpoint -------------------------------


@pytest.mark.parametrize(
    ("status", "body", "headers"),
    [
        (400, b"", {}),
        (400, b"<html><body>Bad Request</body></html>", {"Content-Type": "text/html"}),
        (401, {"message": "nope"}, {}),
        (403, b"forbidden", {"Content-Type": "text/plain"}),
    ],
)
def test_refresh_refused_without_an_oauth_error_means_re_authorize(status, body, headers):
    from airflow_oauth_connector.exceptions import GrantRefusedError

    transport = FakeTransport()
    transport.route("POST", TOKEN_URL, lambda request: (status, headers, body))
    with pytest.raises(GrantRefusedError) as info:
        make_client(make_profile(), transport).refresh("refresh-0")
    assert isinstance(info.value, InvalidGrantError)  # so the token manager records "needs re-authorization"
    message = str(info.value)
    assert "gave no reason" in message
    assert "Authorize the connection again" in message
    assert "URL" not in message
    assert "refresh-0" not in message


def test_refresh_answered_404_still_points_at_the_url():
    transport = FakeTransport()
    transport.route("POST", TOKEN_URL, lambda request: (404, {"Content-Type": "text/html"}, b"<html>nf</html>"))
    with pytest.raises(TokenResponseError, match="check the access-token URL"):
        make_client(make_profile(), transport).refresh("refresh-0")


def _dpop_server(nonce_first: bool, issue: str = "DPoP"):
    from joserfc import jws

    seen: list[dict] = []

    def handler(request):
        proof = request.headers["DPoP"]
        claims = __import__("json").loads(jws.extract_compact(proof.encode()).payload)
        seen.append(claims)
        if nonce_first and "nonce" not in claims:
            return 400, {"DPoP-Nonce": "n-1"}, {"error": "use_dpop_nonce", "error_description": "nonce required"}
        return 200, {}, {"access_token": f"at-{len(seen)}", "token_type": issue, "expires_in": 60}

    return handler, seen


def test_dpop_nonce_challenge_is_retried_once_with_a_fresh_proof_and_assertion():
    transport = FakeTransport()
    handler, seen = _dpop_server(nonce_first=True)
    transport.route("POST", TOKEN_URL, handler)
    token = make_client(
        make_profile(dpop=True, client_auth="client_secret_jwt", password="k" * 40), transport
    ).client_credentials()
    assert token.token_type == "DPoP"
    assert token.dpop_jwk is not None
    assert [c.get("nonce") for c in seen] == [None, "n-1"]
    assert seen[0]["jti"] != seen[1]["jti"]
    assertions = [form(r)["client_assertion"] for r in transport.requests]
    assert assertions[0] != assertions[1]  # a new client assertion (new jti) for the retry
    assert all(c["htm"] == "POST" and c["htu"] == TOKEN_URL for c in seen)


def test_dpop_nonce_loop_fails_at_once_naming_the_field():
    from airflow_oauth_connector.exceptions import DPoPError

    transport = FakeTransport()
    transport.route("POST", TOKEN_URL, lambda r: (400, {"DPoP-Nonce": "again"}, {"error": "use_dpop_nonce"}))
    with pytest.raises(DPoPError, match="'dpop'"):
        make_client(make_profile(dpop=True), transport).client_credentials()
    assert len(transport.requests) == 2


def test_dpop_requested_but_bearer_issued_is_refused():
    from airflow_oauth_connector.exceptions import DPoPError

    transport = FakeTransport()
    handler, _ = _dpop_server(nonce_first=False, issue="Bearer")
    transport.route("POST", TOKEN_URL, handler)
    with pytest.raises(DPoPError, match="not a DPoP-bound one"):
        make_client(make_profile(dpop=True), transport).client_credentials()


def test_token_errors_name_the_connection_and_the_token_url_without_its_query():
    url = TOKEN_URL + "?tenant=SECRET-TENANT"
    transport = FakeTransport()
    transport.route("POST", TOKEN_URL, lambda r: (401, {}, {"error": "invalid_client", "error_description": "bad"}))
    with pytest.raises(InvalidClientError) as info:
        make_client(make_profile(access_url=url), transport).client_credentials()
    assert str(info.value) == (
        f"Connection 'my_api': token endpoint {TOKEN_URL} returned error 'invalid_client' (HTTP 401): bad. Check the "
        f"client ID and client secret, and whether the provider expects them in the basic-auth header or the "
        f"request body (the 'client_auth' field)"
    )
    assert (info.value.conn_id, info.value.url, info.value.error) == ("my_api", TOKEN_URL, "invalid_client")


def test_a_bad_token_response_names_the_connection_and_the_token_url():
    transport = FakeTransport()
    transport.route("POST", TOKEN_URL, lambda r: (200, {"Content-Type": "text/html"}, "<html>login</html>"))
    with pytest.raises(TokenResponseError) as info:
        make_client(make_profile(), transport).client_credentials()
    assert str(info.value).startswith(f"Connection 'my_api', token URL {TOKEN_URL}: Token endpoint answered HTTP 200")


def test_a_refused_refresh_names_the_connection_and_the_token_url():
    from airflow_oauth_connector.exceptions import GrantRefusedError

    transport = FakeTransport()
    transport.route("POST", TOKEN_URL, lambda request: (400, {}, b""))
    with pytest.raises(GrantRefusedError) as info:
        make_client(make_profile(), transport).refresh("refresh-0")
    assert str(info.value).startswith(
        f"Connection 'my_api': token endpoint {TOKEN_URL} refused the refresh token (HTTP 400) and gave no reason"
    )


def test_an_unreachable_token_url_names_the_field_it_comes_from():
    import requests

    def refuse(request):
        raise requests.exceptions.ConnectTimeout("connect timed out")

    transport = FakeTransport()
    transport.route("POST", TOKEN_URL, refuse)
    with pytest.raises(EndpointUnreachableError) as info:
        make_client(make_profile(retry_max_attempts=1), transport).client_credentials()
    message = str(info.value)
    assert message.startswith(
        f"Connection 'my_api' could not reach its token URL {TOKEN_URL}: no connection to auth.example.com:443 "
        f"could be opened within the timeout (1 attempt in "
    )
    assert "raise the connection's timeout or retry limits" in message  # a timeout: the limits may be too tight
    assert info.value.field == "Access token URL field (access_url)"
