from __future__ import annotations

import json
import logging
import threading

import pytest
import requests

from airflow_oauth_connector.exceptions import (
    AuthorizationRequiredError,
    EndpointUnreachableError,
    InvalidClientError,
    InvalidGrantError,
    TokenStoreError,
)
from airflow_oauth_connector.status import AuthState, TokenStatus
from airflow_oauth_connector.store import MemoryTokenStore
from airflow_oauth_connector.token import Token
from airflow_oauth_connector.token_manager import TokenManager
from tests.support.builders import AUTHORIZE_URL, CLIENT_SECRET, TOKEN_URL, Clock, make_client, make_profile
from tests.support.fake_http import FakeTransport, TokenServer


def manager(profile, server, clock=None, store=None):
    transport = FakeTransport()
    transport.route("POST", TOKEN_URL, server)
    clock = clock or Clock()
    client = make_client(profile, transport, clock=clock)
    return TokenManager(profile, client, store or MemoryTokenStore(), clock=clock), transport


def test_token_is_cached_until_the_leeway_before_expiry():
    clock = Clock()
    server = TokenServer(expires_in=300)
    tokens, _ = manager(make_profile(expiry_leeway=60), server, clock)
    first = tokens.get_token()
    clock.now += 239
    assert tokens.get_token() is first
    clock.now += 1  # 60 s before expiry: refresh proactively
    assert tokens.get_token().access_token == "access-2"
    assert server.grants == ["client_credentials", "client_credentials"]


def test_token_without_expiry_uses_configured_default_lifetime():
    clock = Clock()
    server = TokenServer(expires_in=None)
    tokens, _ = manager(make_profile(default_expires_in=120, expiry_leeway=0), server, clock)
    token = tokens.get_token()
    assert token.expires_at == clock.now + 120
    clock.now += 121
    assert tokens.get_token().access_token == "access-2"


class LockCountingStore(MemoryTokenStore):
    """Counts callers that asked for the refresh lock, so a test can hold the token request until all did."""

    def __init__(self) -> None:
        super().__init__()
        self.lock_calls = 0
        self.changed = threading.Condition()

    def lock(self, key):
        with self.changed:
            self.lock_calls += 1
            self.changed.notify_all()
        return super().lock(key)


def test_many_threads_share_one_token_request():
    server = TokenServer()
    store = LockCountingStore()
    callers = 16
    overlapped: list[bool] = []

    def slow_server(request):
        # answer only once every caller is queued on the lock: the overlap is certain, not a matter of timing
        with store.changed:
            overlapped.append(store.changed.wait_for(lambda: store.lock_calls >= callers, timeout=30))
        return server(request)

    tokens, _ = manager(make_profile(), slow_server, store=store)
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(tokens.get_token().access_token)) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert overlapped == [True]
    assert results == ["access-1"] * 16
    assert server.grants == ["client_credentials"]


def test_rejection_refreshes_once_even_when_many_callers_report_it():
    server = TokenServer()
    tokens, _ = manager(make_profile(), server)
    stale = tokens.get_token()
    first = tokens.refresh_after_rejection(stale)
    second = tokens.refresh_after_rejection(stale)  # another caller saw the same stale token
    assert first.access_token == second.access_token == "access-2"
    assert server.grants == ["client_credentials"] * 2


def test_authorization_code_uses_connection_refresh_token_then_rotated_one():
    clock = Clock()
    server = TokenServer(expires_in=100)
    profile = make_profile(grant_type="authorization_code", authorize_url=AUTHORIZE_URL, refresh_token="refresh-0")
    tokens, transport = manager(profile, server, clock)
    assert tokens.get_token().refresh_token == "refresh-1"
    clock.now += 100
    assert tokens.get_token().access_token == "access-2"  # refreshed with the rotated refresh-1
    assert server.grants == ["refresh_token", "refresh_token"]
    assert "refresh-1" in (transport.requests[-1].body or "")


def test_newest_grant_wins_when_the_connection_is_reauthorized():
    clock = Clock()
    server = TokenServer(expires_in=100)
    store = MemoryTokenStore()
    old = make_profile(grant_type="authorization_code", authorize_url=AUTHORIZE_URL, refresh_token="refresh-0")
    tokens, _ = manager(old, server, clock, store)
    assert tokens.get_token().access_token == "access-1"
    # a person authorized again: the connection now holds a new refresh token
    server.valid_refresh = {"refresh-new"}
    new = make_profile(grant_type="authorization_code", authorize_url=AUTHORIZE_URL, refresh_token="refresh-new")
    tokens, transport = manager(new, server, clock, store)
    assert tokens.get_token().access_token == "access-2"  # the cached token of the old grant is not used
    assert "refresh-new" in (transport.requests[-1].body or "")


def test_a_stored_chain_of_unknown_origin_is_kept_not_superseded():
    """Origin ``None`` (a token saved before origins were recorded): its rotated refresh token is used, the
    connection's older one is not replayed (the same rule as the status read model's, in token.superseded)."""
    clock = Clock()
    server = TokenServer(expires_in=100)
    server.valid_refresh = {"refresh-rotated"}
    store = MemoryTokenStore()
    profile = make_profile(grant_type="authorization_code", authorize_url=AUTHORIZE_URL, refresh_token="refresh-0")
    tokens, transport = manager(profile, server, clock, store)
    legacy = Token(access_token="legacy", refresh_token="refresh-rotated", expires_at=clock.now + 100, origin=None)
    store.save(tokens.key, legacy)
    assert tokens.get_token().access_token == "legacy"  # still valid, and not superseded
    clock.now += 100
    tokens.get_token()
    assert "refresh-rotated" in (transport.requests[-1].body or "")
    assert not any("refresh-0" in (r.body or "") for r in transport.requests)


def test_a_rotated_chain_never_replays_the_connections_old_refresh_token():
    clock = Clock()
    server = TokenServer(expires_in=100)
    profile = make_profile(grant_type="authorization_code", authorize_url=AUTHORIZE_URL, refresh_token="refresh-0")
    store = MemoryTokenStore()
    tokens, transport = manager(profile, server, clock, store)
    tokens.get_token()  # refresh-0 -> refresh-1 (rotated)
    server.valid_refresh = set()  # the grant was revoked at the provider
    clock.now += 100
    with pytest.raises(InvalidGrantError):
        tokens.get_token()
    sent = [r.body for r in transport.requests]
    assert sum("refresh-0" in (b or "") for b in sent) == 1  # used once, never replayed after rotation
    status = store.load_status(tokens.key)
    assert isinstance(status, TokenStatus)
    assert status.state is AuthState.NEEDS_REAUTHORIZATION
    assert status.failure is not None
    assert status.failure.kind == "invalid_grant"
    assert "refresh-1" not in status.failure.message


def test_invalid_grant_on_every_refresh_token_raises():
    server = TokenServer()
    server.valid_refresh = set()
    profile = make_profile(grant_type="authorization_code", authorize_url=AUTHORIZE_URL, refresh_token="gone")
    tokens, _ = manager(profile, server)
    with pytest.raises(InvalidGrantError, match="authorize the connection again"):
        tokens.get_token()


def test_authorization_code_without_refresh_token_needs_authorization():
    profile = make_profile(grant_type="authorization_code", authorize_url=AUTHORIZE_URL)
    tokens, transport = manager(profile, TokenServer())
    with pytest.raises(AuthorizationRequiredError, match="OAuth profiles"):
        tokens.get_token()
    assert transport.requests == []


def test_forget_and_renew():
    server = TokenServer()
    tokens, _ = manager(make_profile(), server)
    tokens.get_token()
    tokens.forget()
    assert tokens.current() is None
    assert tokens.renew().access_token == "access-2"


def test_memory_store_shared_instance_is_process_wide():
    assert MemoryTokenStore.shared() is MemoryTokenStore.shared()
    assert "access" not in repr(MemoryTokenStore.shared())


def test_cache_key_separates_profiles():
    store = MemoryTokenStore()
    a, _ = manager(make_profile(scope="read"), TokenServer(), store=store)
    b, _ = manager(make_profile(scope="write"), TokenServer(), store=store)
    a.get_token()
    assert b.current() is None


def test_leeway_is_capped_at_half_a_short_token_lifetime():
    clock = Clock()
    server = TokenServer(expires_in=30)
    tokens, _ = manager(make_profile(expiry_leeway=60), server, clock)
    first = tokens.get_token()
    clock.now += 14
    assert tokens.get_token() is first  # a 60 s leeway would renew a 30 s token on every call
    clock.now += 1
    assert tokens.get_token().access_token == "access-2"


def test_valid_token_is_served_from_the_process_without_a_store_read():
    class CountingStore(MemoryTokenStore):
        loads = 0

        def load(self, key):
            CountingStore.loads += 1
            return super().load(key)

    store = CountingStore()
    tokens, _ = manager(make_profile(), TokenServer(), store=store)
    tokens.get_token()
    before = CountingStore.loads
    for _ in range(10):
        tokens.get_token()
    assert CountingStore.loads == before


def test_cached_is_the_hot_path_held_token_until_the_leeway_before_expiry() -> None:
    """One rule for the memory-held token: cached() serves it exactly while get_token does without I/O."""
    clock = Clock()
    store = MemoryTokenStore()
    tokens, _ = manager(make_profile(expiry_leeway=60), TokenServer(expires_in=300), clock, store)
    assert tokens.cached() is None
    first = tokens.get_token()
    clock.now += 239
    assert tokens.cached() is first
    clock.now += 1  # the refresh point: neither cached() nor the hot path serves it any longer
    assert tokens.cached() is None
    assert tokens.get_token() is not first
    tokens.forget()
    assert tokens.cached() is None


def test_a_token_of_an_older_grant_is_never_held_for_serving() -> None:
    clock = Clock()
    old = make_profile(grant_type="authorization_code", authorize_url=AUTHORIZE_URL, refresh_token="refresh-0")
    tokens, _ = manager(old, TokenServer(expires_in=300), clock)
    stale = tokens.get_token()  # its chain starts at refresh-0
    new = make_profile(grant_type="authorization_code", authorize_url=AUTHORIZE_URL, refresh_token="refresh-new")
    renewed, _ = manager(new, TokenServer(expires_in=300), clock)
    assert renewed.adopt(stale) is False
    assert renewed.cached() is None


# -- the status record: every token request's outcome, where it happened (issue 11, point 4) ---------------


class CountingStore(MemoryTokenStore):
    """A memory store that counts status reads and writes (a served token must not write one)."""

    def __init__(self) -> None:
        super().__init__()
        self.status_reads = 0
        self.status_writes = 0

    def load_status(self, key):
        self.status_reads += 1
        return super().load_status(key)

    def save_status(self, key, status):
        self.status_writes += 1
        super().save_status(key, status)


@pytest.fixture
def in_task(monkeypatch: pytest.MonkeyPatch) -> None:
    """The variables the Task SDK's task runner exports into a task process before ``execute``."""
    monkeypatch.setenv("AIRFLOW_CTX_DAG_ID", "sync_crm")
    monkeypatch.setenv("AIRFLOW_CTX_TASK_ID", "pull")
    monkeypatch.setenv("AIRFLOW_CTX_TRY_NUMBER", "1")


def refusing_client(request):
    return 401, {}, {"error": "invalid_client", "error_description": "Client authentication failed"}


def test_a_refused_client_is_recorded_with_kind_time_and_task(in_task: None) -> None:
    clock = Clock()
    store = MemoryTokenStore()
    tokens, _ = manager(make_profile(), refusing_client, clock, store)
    with pytest.raises(InvalidClientError) as info:
        tokens.get_token()
    assert str(info.value).startswith(
        f"Connection 'my_api': token endpoint {TOKEN_URL} returned error 'invalid_client'"
    )
    status = store.load_status(tokens.key)
    assert isinstance(status, TokenStatus)
    assert status.failure is not None
    assert (status.failure.kind, status.failure.at, status.failure.where) == (
        "invalid_client",
        clock.now,
        "sync_crm/pull/try 1",
    )
    assert status.failure.message == str(info.value)  # whole: the connection, the URL and the hint
    assert CLIENT_SECRET not in json.dumps(status.to_dict())
    assert status.last_success is None


def test_the_next_success_clears_the_failure_and_records_the_time() -> None:
    clock = Clock()
    store = MemoryTokenStore()
    replies = [refusing_client, TokenServer()]
    tokens, _ = manager(make_profile(), lambda request: replies[0](request), clock, store)
    with pytest.raises(InvalidClientError):
        tokens.get_token()
    replies.pop(0)
    clock.now += 5
    tokens.get_token()
    assert store.load_status(tokens.key) == TokenStatus(last_success=clock.now, last_refresh=clock.now)
    clock.now += 7
    replies.insert(0, refusing_client)
    with pytest.raises(InvalidClientError):
        tokens.renew()
    status = store.load_status(tokens.key)
    assert isinstance(status, TokenStatus)
    assert status.last_success == clock.now - 7  # a failure keeps the last success
    assert status.failure is not None
    assert status.failure.at == clock.now


def test_a_served_token_writes_no_status() -> None:
    clock = Clock()
    store = CountingStore()
    tokens, _ = manager(make_profile(), TokenServer(), clock, store)
    tokens.get_token()
    assert store.status_writes == 1  # the fetch's success
    other, transport = manager(make_profile(), TokenServer(), clock, store)
    for _ in range(3):
        tokens.get_token()
        other.get_token()  # read from the store
    assert store.status_writes == 1
    assert transport.requests == []


def test_a_successful_machine_grant_fetch_reads_no_status_record() -> None:
    """The success replaces the record whole (the failure cleared, the time kept): nothing to read first."""
    clock = Clock()
    store = CountingStore()
    tokens, _ = manager(make_profile(), TokenServer(), clock, store)
    fetches = 3
    for _ in range(fetches):
        clock.now += 10
        tokens.renew()
    assert (store.status_reads, store.status_writes) == (0, fetches)
    assert store.load_status(tokens.key) == TokenStatus(last_success=clock.now, last_refresh=clock.now)


def test_a_failed_machine_grant_fetch_reads_the_record_once_to_keep_the_last_success() -> None:
    clock = Clock()
    store = CountingStore()
    replies = [TokenServer(), refusing_client]
    tokens, _ = manager(make_profile(), lambda request: replies[0](request), clock, store)
    tokens.renew()
    succeeded_at = clock.now
    replies.pop(0)
    clock.now += 5
    with pytest.raises(InvalidClientError):
        tokens.renew()
    assert (store.status_reads, store.status_writes) == (1, 2)
    status = store.load_status(tokens.key)
    assert isinstance(status, TokenStatus)
    assert status.last_success == succeeded_at
    assert status.failure is not None
    assert (status.failure.kind, status.failure.at) == ("invalid_client", clock.now)


def test_a_failing_status_write_does_not_fail_the_token_request(caplog: pytest.LogCaptureFixture) -> None:
    class StatusDown(MemoryTokenStore):
        def load_status(self, key):
            raise TokenStoreError("Redis token store at redis://cache:6379/0: reading a status failed")

        def save_status(self, key, status):
            raise TokenStoreError("Redis token store at redis://cache:6379/0: saving a status failed")

    tokens, _ = manager(make_profile(), TokenServer(), Clock(), StatusDown())
    with caplog.at_level(logging.WARNING, logger="airflow_oauth_connector.status"):
        assert tokens.get_token().access_token == "access-1"
    assert "could not record the token request's outcome in the token store (TokenStoreError)" in caplog.text
    failing, _ = manager(make_profile(), refusing_client, Clock(), StatusDown())
    with pytest.raises(InvalidClientError):  # the token error, not the store's
        failing.get_token()


def test_an_unreachable_token_url_is_recorded_in_plain_words() -> None:
    import socket

    with socket.socket() as probe:  # a free loopback port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/oauth/token"
    profile = make_profile(access_url=url, retry_max_attempts=2)
    clock = Clock()
    store = MemoryTokenStore()
    client = make_client(profile, requests.adapters.HTTPAdapter(), clock=clock)
    tokens = TokenManager(profile, client, store, clock=clock)
    with pytest.raises(EndpointUnreachableError) as info:
        tokens.get_token()
    message = str(info.value)
    assert message == (
        f"Connection 'my_api' could not reach its token URL {url}: the connection to 127.0.0.1:{port} was refused "
        f"(nothing listens on that port) (2 attempts in {info.value.elapsed:.1f} s). Check the Access token URL field "
        f"(access_url) and that the server is reachable from the worker"
    )
    status = store.load_status(tokens.key)
    assert isinstance(status, TokenStatus)
    assert status.failure is not None
    assert status.failure.kind == "unreachable"
    assert status.failure.message == message


def test_a_stored_token_is_announced_once_per_manager(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock(now=1_795_915_380.0)  # 2026-11-29 01:23 UTC
    store = MemoryTokenStore()
    first, _ = manager(make_profile(), TokenServer(expires_in=3600), clock, store)
    token = first.get_token()
    with caplog.at_level(logging.INFO, logger="airflow_oauth_connector.token_manager"):
        first.get_token()  # obtained by this manager: the token client said so already
        reader, _ = manager(make_profile(), TokenServer(), clock, store)
        for _ in range(3):
            reader.get_token()
            reader._serve_until = float("-inf")  # read from the store again, as after a process-wide adopt
    lines = [r.getMessage() for r in caplog.records if r.name == "airflow_oauth_connector.token_manager"]
    assert lines == ["Connection 'my_api': using the stored token, expires at 2026-11-29 02:23 UTC"]
    assert token.access_token not in caplog.text


def test_a_machine_grant_makes_the_post_authorization_call_after_each_new_token():
    userinfo = "https://auth.example.com/oauth/userinfo"
    profile = make_profile(
        host="{base_uri}/restapi/v2.1/accounts/{account_id}",
        post_authorize={
            "url": userinfo,
            "capture": {"base_uri": "accounts.0.base_uri", "account_id": "accounts.0.account_id"},
        },
    )
    clock = Clock()
    tokens, transport = manager(profile, TokenServer(expires_in=300), clock)
    answers = iter(["https://demo.docusign.net", "https://na2.docusign.net"])
    transport.route(
        "GET", userinfo, lambda _r: (200, {}, {"accounts": [{"base_uri": next(answers), "account_id": "18b4"}]})
    )
    first = tokens.get_token()
    assert dict(first.captured) == {"base_uri": "https://demo.docusign.net", "account_id": "18b4"}
    assert profile.resolved_base_url(first.captured) == "https://demo.docusign.net/restapi/v2.1/accounts/18b4"
    assert transport.calls(userinfo)[0].headers["Authorization"] == f"Bearer {first.access_token}"
    clock.now += 300
    assert tokens.get_token().captured["base_uri"] == "https://na2.docusign.net"
    assert len(transport.calls(userinfo)) == 2


def test_a_dpop_refresh_is_signed_with_the_chains_key():
    """RFC 9449 5: a public client's refresh token is bound to its DPoP key; the refresh must prove that key."""
    from joserfc import jws

    from airflow_oauth_connector.dpop import DPoPKey

    proofs: list[dict] = []

    def token_endpoint(request: requests.PreparedRequest):
        proofs.append(dict(jws.extract_compact(request.headers["DPoP"].encode()).headers()))
        return 200, {}, {"access_token": "at-2", "token_type": "DPoP", "expires_in": 60, "refresh_token": "rt-2"}

    transport = FakeTransport()
    transport.route("POST", TOKEN_URL, token_endpoint)
    profile = make_profile(
        {"grant_type": "authorization_code", "authorize_url": AUTHORIZE_URL, "dpop": True}, refresh_token="rt-1"
    )
    bound = DPoPKey.generate()
    store = MemoryTokenStore()
    expired = Token(access_token="at-1", refresh_token="rt-1", expires_at=1.0, token_type="DPoP")
    store.save(profile.cache_key, expired.with_dpop_key(bound.to_jwk()))
    token = TokenManager(profile, make_client(profile, transport), store).get_token()
    assert token.access_token == "at-2"
    assert [proof["jwk"] for proof in proofs] == [bound.public_jwk]  # the chain's key, not a fresh one
    assert token.dpop_jwk == bound.to_jwk()  # and the new token stays bound to it
