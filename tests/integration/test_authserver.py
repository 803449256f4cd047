"""Tests of the test OAuth 2.0 server itself (DOT-backed), using plain requests."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.support.authserver.runner import AuthServerError, start_auth_server

pytestmark = pytest.mark.integration

LOOPBACK_REDIRECT = "http://127.0.0.1:8765/callback"
AIRFLOW_REDIRECT = "https://airflow.example.test/oauth-connector/callback"


# ---------------------------------------------------------------- helpers
def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def cc_token(server, scope: str = "read write", **extra) -> dict:
    c = server.clients["cc"]
    r = requests.post(
        server.token_url,
        data={"grant_type": "client_credentials", "scope": scope, **extra},
        auth=(c.client_id, c.client_secret),
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return r.json()


def code_from(redirect: str, expected_state: str) -> str:
    q = parse_qs(urlsplit(redirect).query)
    assert q.get("state") == [expected_state], redirect
    assert "code" in q, redirect
    return q["code"][0]


def ac_tokens(server, client: str = "ac", scope: str = "read write", redirect_uri: str = LOOPBACK_REDIRECT):
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(8)
    redirect = server.authorize(client, redirect_uri, scope=scope, state=state, code_challenge=challenge)
    code = code_from(redirect, state)
    c = server.clients[client]
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
        "client_id": c.client_id,
    }
    if c.client_secret:
        data["client_secret"] = c.client_secret
    r = requests.post(server.token_url, data=data, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def exchange_code(server, code: str, **extra: str) -> requests.Response:
    """The confidential client ``ac`` exchanges ``code`` (redirect URI: the loopback one), HTTP Basic auth."""
    c = server.clients["ac"]
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": LOOPBACK_REDIRECT, **extra}
    return requests.post(server.token_url, data=data, auth=(c.client_id, c.client_secret), timeout=10)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


# ---------------------------------------------------------------- discovery
def test_discovery_document(auth_server):
    r = requests.get(f"{auth_server.issuer}/.well-known/openid-configuration", timeout=10)
    assert r.status_code == 200
    doc = r.json()
    assert doc["issuer"] == auth_server.issuer
    assert doc["token_endpoint"] == auth_server.token_url
    assert doc["authorization_endpoint"] == auth_server.authorize_url
    assert "S256" in doc["code_challenge_methods_supported"]
    jwks = requests.get(doc["jwks_uri"], timeout=10).json()
    assert jwks["keys"]
    assert jwks["keys"][0]["kty"] == "RSA"
    # RFC 8414 metadata too
    meta = requests.get(f"{auth_server.issuer}/.well-known/oauth-authorization-server", timeout=10)
    assert meta.status_code == 200
    assert meta.json()["token_endpoint"] == auth_server.token_url
    # RFC 8414 path-insertion form of the same document
    root = requests.get(f"{auth_server.base_url}/.well-known/oauth-authorization-server/o", timeout=10)
    assert root.status_code == 200
    assert root.json()["issuer"] == auth_server.issuer


def test_ready_file_contents(auth_server):
    assert auth_server.base_url.startswith("http://127.0.0.1:")
    assert set(auth_server.clients) >= {"cc", "ac", "public", "device"}
    assert auth_server.clients["public"].client_secret is None
    for name in ("cc", "ac"):
        secret = auth_server.clients[name].client_secret
        assert secret
        assert len(secret) >= 40
    assert auth_server.clients["ac"].grant_types == ["authorization_code", "refresh_token"]
    assert AIRFLOW_REDIRECT in auth_server.clients["ac"].redirect_uris


# ---------------------------------------------------------------- client credentials
def test_client_credentials_basic_and_post(fresh_stats):
    server = fresh_stats
    tok = cc_token(server)
    assert tok["token_type"] == "Bearer"
    assert tok["scope"] == "read write"
    assert 0 < tok["expires_in"] <= server.access_token_lifetime
    assert "refresh_token" not in tok

    c = server.clients["cc"]
    r = requests.post(
        server.token_url,
        data={"grant_type": "client_credentials", "client_id": c.client_id, "client_secret": c.client_secret},
        timeout=10,
    )
    assert r.status_code == 200, r.text

    bad = requests.post(
        server.token_url, data={"grant_type": "client_credentials"}, auth=(c.client_id, "wrong"), timeout=10
    )
    assert bad.status_code == 401
    assert bad.json()["error"] == "invalid_client"

    stats = server.stats()["token_requests"]
    assert stats["total"] == 3
    assert stats["errors"] == 1
    assert stats["by_grant_type"] == {"client_credentials": 3}
    assert stats["by_grant_type_and_client_id"]["client_credentials"][c.client_id] == 3
    assert stats["by_auth_method"] == {"basic": 2, "body": 1}


def test_client_credentials_unauthorized_grant(auth_server):
    ac = auth_server.clients["ac"]
    r = requests.post(
        auth_server.token_url,
        data={"grant_type": "client_credentials"},
        auth=(ac.client_id, ac.client_secret),
        timeout=10,
    )
    assert r.status_code in (400, 401)
    assert r.json()["error"] == "unauthorized_client"


# ---------------------------------------------------------------- authorization code + PKCE
@pytest.mark.parametrize("client", ["ac", "public"])
def test_authorization_code_pkce_s256(auth_server, client):
    tok = ac_tokens(auth_server, client)
    assert tok["token_type"] == "Bearer"
    assert tok["refresh_token"]
    who = requests.get(auth_server.api_base + "/whoami", headers=bearer(tok["access_token"]), timeout=10).json()
    assert who["client_id"] == auth_server.clients[client].client_id
    assert who["user"] == auth_server.username
    assert who["scope"] == "read write"


def test_authorization_code_openid_returns_id_token(auth_server):
    tok = ac_tokens(auth_server, "ac", scope="openid read")
    assert tok["id_token"].count(".") == 2
    claims = json.loads(base64.urlsafe_b64decode(tok["id_token"].split(".")[1] + "=="))
    assert claims["iss"] == auth_server.issuer
    assert claims["aud"] == auth_server.clients["ac"].client_id


def test_pkce_wrong_verifier_rejected(auth_server):
    _, challenge = pkce_pair()
    state = "s-wrong"
    redirect = auth_server.authorize("ac", LOOPBACK_REDIRECT, scope="read", state=state, code_challenge=challenge)
    r = exchange_code(auth_server, code_from(redirect, state), code_verifier=pkce_pair()[0])
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_grant"


def test_public_client_requires_pkce(auth_server):
    redirect = auth_server.authorize("public", LOOPBACK_REDIRECT, scope="read", state="s1", code_challenge=None)
    q = parse_qs(urlsplit(redirect).query)
    assert redirect.startswith(LOOPBACK_REDIRECT)
    assert q["error"] == ["invalid_request"]
    assert q["state"] == ["s1"]


def test_confidential_client_pkce_optional(auth_server):
    state = "s-nopkce"
    redirect = auth_server.authorize("ac", LOOPBACK_REDIRECT, scope="read", state=state, code_challenge=None)
    r = exchange_code(auth_server, code_from(redirect, state))
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1:54321/callback",
        "http://127.0.0.1:8765/callback",
        "http://localhost:40000/callback",
        "http://127.0.0.1:9999/oauth-connector/callback",
        AIRFLOW_REDIRECT,
    ],
)
def test_redirect_uri_loopback_any_port(auth_server, redirect_uri):
    redirect = auth_server.authorize("public", redirect_uri, scope="read", state="st", code_challenge=pkce_pair()[1])
    assert redirect.startswith(redirect_uri + "?")
    code_from(redirect, "st")


def test_unregistered_redirect_uri_is_an_error_page(auth_server):
    with pytest.raises(AuthServerError, match=r"(?i)redirect"):
        auth_server.authorize(
            "public", "http://127.0.0.1:8765/other", scope="read", state="x", code_challenge=pkce_pair()[1]
        )
    with pytest.raises(AuthServerError):
        auth_server.authorize(
            "public", "https://evil.example.test/callback", scope="read", state="x", code_challenge=pkce_pair()[1]
        )


def test_consent_denied(auth_server):
    redirect = auth_server.authorize(
        "ac", LOOPBACK_REDIRECT, scope="read", state="d", code_challenge=pkce_pair()[1], allow=False
    )
    q = parse_qs(urlsplit(redirect).query)
    assert q["error"] == ["access_denied"]
    assert q["state"] == ["d"]


def test_authorize_extra_params_reach_server(auth_server):
    # unknown extra authorization params are ignored by DOT but must not break the flow
    redirect = auth_server.authorize(
        "public",
        LOOPBACK_REDIRECT,
        scope="read",
        state="e",
        code_challenge=pkce_pair()[1],
        extra_params={"prompt": "consent", "audience": "demo-api"},
    )
    code_from(redirect, "e")


# ---------------------------------------------------------------- refresh rotation
@pytest.mark.parametrize("client", ["ac", "public"])
def test_refresh_rotation_and_reuse(auth_server, client):
    tok = ac_tokens(auth_server, client)
    c = auth_server.clients[client]

    def refresh(rt):
        data = {"grant_type": "refresh_token", "refresh_token": rt, "client_id": c.client_id}
        if c.client_secret:
            data["client_secret"] = c.client_secret
        return requests.post(auth_server.token_url, data=data, timeout=10)

    r1 = refresh(tok["refresh_token"])
    assert r1.status_code == 200, r1.text
    new = r1.json()
    assert new["refresh_token"] != tok["refresh_token"]
    assert new["access_token"] != tok["access_token"]
    assert requests.get(auth_server.api_base + "/whoami", headers=bearer(new["access_token"]), timeout=10).ok

    replay = refresh(tok["refresh_token"])
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    # reuse protection: the whole token family is revoked after the replay
    assert refresh(new["refresh_token"]).json()["error"] == "invalid_grant"


# ---------------------------------------------------------------- protected API
def test_api_accepts_valid_token_rejects_bad(fresh_stats):
    server = fresh_stats
    at = cc_token(server)["access_token"]
    ok = requests.get(server.api_base + "/whoami", headers=bearer(at), timeout=10)
    assert ok.status_code == 200
    who = ok.json()
    assert who["client_id"] == server.clients["cc"].client_id
    assert who["user"] is None
    assert who["expires"].endswith("+00:00")

    via_query = requests.get(server.api_base + "/whoami", params={"access_token": at}, timeout=10)
    assert via_query.status_code == 200
    assert via_query.json()["token_via"] == "query"

    for headers in ({"Authorization": "Bearer not-a-token"}, {}):
        bad = requests.get(server.api_base + "/whoami", headers=headers, timeout=10)
        assert bad.status_code == 401
        assert bad.headers["WWW-Authenticate"].startswith("Bearer ")
        assert 'error="invalid_token"' in bad.headers["WWW-Authenticate"]

    api = server.stats()["api_requests"]
    assert api["total"] == 4
    assert api["unauthorized"] == 2


def test_revoked_token_rejected(auth_server):
    at = cc_token(auth_server)["access_token"]
    c = auth_server.clients["cc"]
    rv = requests.post(auth_server.revoke_url, data={"token": at}, auth=(c.client_id, c.client_secret), timeout=10)
    assert rv.status_code == 200
    assert requests.get(auth_server.api_base + "/whoami", headers=bearer(at), timeout=10).status_code == 401


def test_expired_token_rejected_and_server_options(tmp_path):
    extra_redirect = "https://airflow.local.test:8443/auth/oauth-connector/callback"
    with start_auth_server(
        tmp_path / "short", access_token_lifetime=1, device=False, redirect_uris=[extra_redirect]
    ) as srv:
        assert "device" not in srv.clients
        assert srv.device_url is None
        assert extra_redirect in srv.clients["ac"].redirect_uris
        redirect = srv.authorize("ac", extra_redirect, scope="read", state="o", code_challenge=pkce_pair()[1])
        assert redirect.startswith(extra_redirect + "?")
        tok = cc_token(srv)
        assert tok["expires_in"] <= 1
        assert requests.get(srv.api_base + "/whoami", headers=bearer(tok["access_token"]), timeout=10).ok
        time.sleep(1.5)
        r = requests.get(srv.api_base + "/whoami", headers=bearer(tok["access_token"]), timeout=10)
        assert r.status_code == 401
        assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    assert srv.process.poll() is not None


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_echo(auth_server, method):
    at = cc_token(auth_server)["access_token"]
    r = requests.request(
        method,
        auth_server.api_base + "/echo",
        params={"q": "1", "audience": "x"},
        json={"hello": "world", "n": 1},
        headers={**bearer(at), "X-Test-Trace": "abc"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["method"] == method
    assert body["json"] == {"hello": "world", "n": 1}
    assert body["query"] == {"q": "1", "audience": "x"}
    assert "Authorization" in body["headers"]
    assert "X-Test-Trace" in body["headers"]
    assert body["test_headers"] == {"x-test-trace": "abc"}
    assert at not in r.text

    form = requests.post(auth_server.api_base + "/echo", data={"a": "1", "b": "2"}, headers=bearer(at), timeout=10)
    assert form.json()["form"] == {"a": "1", "b": "2"}


def test_echo_requires_write_scope(auth_server):
    at = cc_token(auth_server, scope="read")["access_token"]
    r = requests.post(auth_server.api_base + "/echo", json={}, headers=bearer(at), timeout=10)
    assert r.status_code == 403
    assert 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]
    assert requests.get(auth_server.api_base + "/items", headers=bearer(at), timeout=10).status_code == 200


def test_status_and_slow(auth_server):
    h = bearer(cc_token(auth_server)["access_token"])
    for code in (200, 201, 400, 404, 429, 500, 503):
        r = requests.get(f"{auth_server.api_base}/status/{code}", headers=h, timeout=10)
        assert r.status_code == code
        assert r.json()["status"] == code
    r = requests.get(f"{auth_server.api_base}/status/429", params={"retry_after": "2"}, headers=h, timeout=10)
    assert r.headers["Retry-After"] == "2"
    assert requests.get(f"{auth_server.api_base}/status/204", headers=h, timeout=10).status_code == 204
    assert requests.get(f"{auth_server.api_base}/status/503").status_code == 401
    t0 = time.monotonic()
    r = requests.get(f"{auth_server.api_base}/slow", params={"seconds": "0.5"}, headers=h, timeout=10)
    assert r.status_code == 200
    assert r.json()["slept"] == 0.5
    assert time.monotonic() - t0 >= 0.5
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(f"{auth_server.api_base}/slow", params={"seconds": "3"}, headers=h, timeout=0.5)


# ---------------------------------------------------------------- pagination
EXPECTED_95 = [{"id": i, "name": f"item-{i}"} for i in range(1, 96)]


@pytest.fixture(scope="module")
def api_headers(auth_server):
    return bearer(cc_token(auth_server, scope="read")["access_token"])


def test_pagination_page_number(auth_server, api_headers):
    items, page = [], 1
    while True:
        body = requests.get(
            auth_server.api_base + "/items", params={"page": page, "per_page": 20}, headers=api_headers, timeout=10
        ).json()
        assert body["page"] == page
        assert body["per_page"] == 20
        assert body["total"] == 95
        if not body["items"]:
            break
        items += body["items"]
        page += 1
    assert items == EXPECTED_95
    assert page == 6


def test_pagination_offset_limit(auth_server, api_headers):
    items, offset = [], 0
    while True:
        body = requests.get(
            auth_server.api_base + "/items", params={"offset": offset, "limit": 30}, headers=api_headers, timeout=10
        ).json()
        assert body["offset"] == offset
        assert body["limit"] == 30
        assert body["total"] == 95
        items += body["items"]
        offset += 30
        if offset >= body["total"]:
            break
    assert items == EXPECTED_95


def test_pagination_cursor(auth_server, api_headers):
    items, cursor, calls = [], "", 0
    while True:
        body = requests.get(
            auth_server.api_base + "/items", params={"cursor": cursor, "limit": 25}, headers=api_headers, timeout=10
        ).json()
        calls += 1
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert items == EXPECTED_95
    assert calls == 4
    bad = requests.get(auth_server.api_base + "/items", params={"cursor": "!!"}, headers=api_headers, timeout=10)
    assert bad.status_code == 400


def test_pagination_next_url(auth_server, api_headers):
    url = auth_server.api_base + "/items?style=next_url&per_page=40"
    items, calls = [], 0
    while url:
        body = requests.get(url, headers=api_headers, timeout=10).json()
        calls += 1
        items += body["data"]
        url = body["links"]["next"]
        if url:
            assert url.startswith(auth_server.base_url + "/api/items?")
    assert items == EXPECTED_95
    assert calls == 3


def test_pagination_link_header(auth_server, api_headers):
    url = auth_server.api_base + "/items?style=link_header&total=23&per_page=10"
    items, calls = [], 0
    while url:
        r = requests.get(url, headers=api_headers, timeout=10)
        calls += 1
        assert isinstance(r.json(), list)
        items += r.json()
        url = r.links.get("next", {}).get("url")
    assert items == [{"id": i, "name": f"item-{i}"} for i in range(1, 24)]
    assert calls == 3


def test_pagination_next_url_drops_query_token(auth_server, api_headers):
    at = api_headers["Authorization"].split()[1]
    body = requests.get(
        auth_server.api_base + "/items", params={"style": "next_url", "access_token": at}, timeout=10
    ).json()
    assert "access_token" not in body["links"]["next"]


# ---------------------------------------------------------------- device grant
def test_device_authorization_grant(fresh_stats):
    server = fresh_stats
    dev = server.clients["device"]
    r = requests.post(server.device_url, data={"client_id": dev.client_id, "scope": "read"}, timeout=10)
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["verification_uri"] == server.device_verification_url
    assert d["verification_uri_complete"] == f"{server.device_verification_url}?user_code={d['user_code']}"
    assert d["interval"] == 1
    assert d["expires_in"] > 0
    poll = {
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
        "device_code": d["device_code"],
        "client_id": dev.client_id,
    }
    pending = requests.post(server.token_url, data=poll, timeout=10)
    assert pending.status_code == 400
    assert pending.json()["error"] == "authorization_pending"
    server.approve_device(d["user_code"])
    tok = requests.post(server.token_url, data=poll, timeout=10)
    assert tok.status_code == 200, tok.text
    who = requests.get(server.api_base + "/whoami", headers=bearer(tok.json()["access_token"]), timeout=10).json()
    assert who["client_id"] == dev.client_id
    assert who["user"] == server.username
    stats = server.stats()
    assert stats["device_authorization_requests"] == 1
    assert stats["token_requests"]["by_grant_type"]["urn:ietf:params:oauth:grant-type:device_code"] == 2


def test_device_grant_denied(auth_server):
    dev = auth_server.clients["device"]
    d = requests.post(auth_server.device_url, data={"client_id": dev.client_id}, timeout=10).json()
    auth_server.approve_device(d["user_code"], allow=False)
    r = requests.post(
        auth_server.token_url,
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "device_code": d["device_code"],
            "client_id": dev.client_id,
        },
        timeout=10,
    )
    assert r.status_code in (400, 403)
    assert r.json()["error"] == "access_denied"


# ---------------------------------------------------------------- stats / metadata
def test_stats_count_by_grant_and_client(fresh_stats):
    server = fresh_stats
    for _ in range(3):
        cc_token(server)
    tok = ac_tokens(server, "public")
    requests.post(
        server.token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": tok["refresh_token"],
            "client_id": server.clients["public"].client_id,
        },
        timeout=10,
    )
    s = server.stats()["token_requests"]
    assert s["total"] == 5
    assert s["by_grant_type"] == {"client_credentials": 3, "authorization_code": 1, "refresh_token": 1}
    assert s["by_client_id"] == {server.clients["cc"].client_id: 3, server.clients["public"].client_id: 2}
    assert s["by_auth_method"] == {"basic": 3, "none": 2}
    server.reset_stats()
    assert server.stats()["token_requests"]["total"] == 0
    assert server.token_requests() == []


def test_token_request_metadata_records_custom_params(fresh_stats):
    server = fresh_stats
    c = server.clients["cc"]
    r = requests.post(
        server.token_url + "?audience=https%3A%2F%2Fapi.example.test&tenant=t1",
        data={
            "grant_type": "client_credentials",
            "client_id": c.client_id,
            "client_secret": c.client_secret,
            "resource": "https://api.example.test/",
            "x_test_custom": "v1",
        },
        headers={"X-Test-Request-Id": "rid-42", "X-Other": "no"},
        timeout=10,
    )
    assert r.status_code in (200, 400), r.text
    recs = server.token_requests()
    assert len(recs) == 1
    rec = recs[0]
    assert rec["grant_type"] == "client_credentials"
    assert rec["client_id"] == c.client_id
    assert rec["auth_method"] == "body"
    assert rec["query_params"] == {"audience": ["https://api.example.test"], "tenant": ["t1"]}
    assert rec["audience"] == ["https://api.example.test"]
    assert rec["test_headers"] == {"x-test-request-id": "rid-42"}
    assert rec["body_param_names"] == ["client_id", "client_secret", "grant_type", "resource", "x_test_custom"]
    assert rec["body_values"]["x_test_custom"] == "v1"
    assert rec["status"] == r.status_code
    dump = json.dumps(recs)
    assert c.client_secret not in dump
    if r.ok:
        assert r.json()["access_token"] not in dump


def test_test_endpoints_are_csrf_exempt(auth_server):
    assert requests.post(auth_server.base_url + "/test/reset", timeout=10).status_code == 200
    assert requests.get(auth_server.base_url + "/test/reset", timeout=10).status_code == 405


# ---------------------------------------------------------------- concurrency
def test_concurrent_token_and_api_requests(fresh_stats):
    server = fresh_stats

    def work(_):
        at = cc_token(server)["access_token"]
        return requests.get(server.api_base + "/whoami", headers=bearer(at), timeout=30).status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        codes = list(pool.map(work, range(100)))
    assert codes == [200] * 100
    s = server.stats()
    assert s["token_requests"]["total"] == 100
    assert s["token_requests"]["errors"] == 0
    assert s["api_requests"]["total"] == 100


CLIENT_SCRIPT = """
import sys, requests
token_url, api, cid, secret = sys.argv[1:5]
for _ in range(2):
    r = requests.post(token_url, data={"grant_type": "client_credentials"}, auth=(cid, secret), timeout=60)
    r.raise_for_status()
    headers = {"Authorization": "Bearer " + r.json()["access_token"]}
    w = requests.get(api + "/items?per_page=5", headers=headers, timeout=60)
    w.raise_for_status()
"""


def test_fifty_concurrent_client_processes(fresh_stats):
    server = fresh_stats
    c = server.clients["cc"]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLIENT_SCRIPT, server.token_url, server.api_base, c.client_id, c.client_secret],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(50)
    ]
    failures = []
    for p in procs:
        _, err = p.communicate(timeout=120)
        if p.returncode:
            failures.append(err.decode()[-500:])
    assert not failures, failures[0]
    s = server.stats()
    assert s["token_requests"]["total"] == 100
    assert s["token_requests"]["errors"] == 0


# ---------------------------------------------------------------- hygiene
def test_server_log_contains_no_secrets(auth_server):
    tok = ac_tokens(auth_server, "ac")
    at = cc_token(auth_server)["access_token"]
    requests.get(auth_server.api_base + "/whoami", params={"access_token": at}, timeout=10)
    requests.post(
        auth_server.token_url,
        data={"grant_type": "refresh_token", "refresh_token": "bogus-rt"},
        auth=(auth_server.clients["ac"].client_id, "bogus-secret"),
        timeout=10,
    )
    time.sleep(0.2)
    log = auth_server.log_path.read_text(errors="replace")
    secrets_ = [c.client_secret for c in auth_server.clients.values() if c.client_secret]
    secrets_ += [auth_server.password, at, tok["access_token"], tok["refresh_token"], "bogus-rt", "bogus-secret"]
    for s in secrets_:
        assert s not in log
