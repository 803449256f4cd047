"""TokenManager's refresh guards: the "refresh in flight" record, one recovery attempt, and fail-fast (issue 14)."""

from __future__ import annotations

import pytest
import requests

from airflow_oauth_connector.exceptions import (
    REFRESH_TOKEN_EXPIRED,
    EndpointUnreachableError,
    InvalidGrantError,
    ReauthorizationRequiredError,
    RefreshTokenExpiredError,
    TokenStoreError,
)
from airflow_oauth_connector.status import AuthState, Failure, RefreshInFlight, TokenStatus
from airflow_oauth_connector.store import MemoryTokenStore
from airflow_oauth_connector.token import Token, refresh_origin
from airflow_oauth_connector.token_manager import TokenManager
from tests.support.builders import AUTHORIZE_URL, TOKEN_URL, make_client, make_profile
from tests.support.fake_http import FakeTransport, TokenServer, form

NOW = 1_000_000.0


def ac_profile(refresh_token: str = "refresh-0"):  # type: ignore[no-untyped-def]
    return make_profile(grant_type="authorization_code", authorize_url=AUTHORIZE_URL, refresh_token=refresh_token)


def manager(profile, server, store):  # type: ignore[no-untyped-def]
    transport = FakeTransport()
    transport.route("POST", TOKEN_URL, server)
    client = make_client(profile, transport, clock=lambda: NOW)
    return TokenManager(profile, client, store, clock=lambda: NOW), transport


class RecordingStore(MemoryTokenStore):
    """A memory store that remembers every status record saved (to see the in-flight record before sending)."""

    def __init__(self) -> None:
        super().__init__()
        self.saved: list[object] = []

    def save_status(self, key, status):  # type: ignore[no-untyped-def]
        self.saved.append(status)
        super().save_status(key, status)


def test_the_refresh_is_recorded_in_flight_before_it_is_sent_and_cleared_after() -> None:
    store = RecordingStore()
    server = TokenServer()
    seen: list[object] = []

    def watching(request):  # type: ignore[no-untyped-def]
        seen.append(store.load_status(ac_profile().cache_key))
        return server(request)

    tokens, _ = manager(ac_profile(), watching, store)
    tokens.get_token()
    in_flight = seen[0]
    assert isinstance(in_flight, TokenStatus)
    assert in_flight.in_flight is not None
    assert in_flight.in_flight.attempt == 1
    assert in_flight.in_flight.chain == refresh_origin("refresh-0")
    after = store.load_status(tokens.key)  # cleared once the new token was saved; the success recorded
    assert after == TokenStatus(last_success=NOW, last_refresh=NOW)


def test_a_refresh_that_cannot_be_recorded_is_not_sent() -> None:
    class DownStore(MemoryTokenStore):
        def save_status(self, key, status):  # type: ignore[no-untyped-def]
            raise TokenStoreError("Redis token store at redis://cache:6379/0: saving a status failed")

    tokens, transport = manager(ac_profile(), TokenServer(), DownStore())
    with pytest.raises(TokenStoreError):
        tokens.get_token()
    assert transport.requests == []  # its rotated refresh token could not have been saved either


def _lost_refresh(store: MemoryTokenStore, attempt: int = 1) -> None:
    """What a holder killed mid-refresh leaves: the in-flight record, the old token (here: none) stored."""
    key = ac_profile().cache_key
    lost = RefreshInFlight(
        started_at=NOW - 5, holder="worker-1:4242", chain=refresh_origin("refresh-0"), attempt=attempt
    )
    store.save_status(key, TokenStatus(in_flight=lost, chain=lost.chain))


def test_after_a_lost_refresh_one_attempt_with_the_old_token_recovers_on_a_grace_server() -> None:
    store = MemoryTokenStore()
    _lost_refresh(store)
    server = TokenServer()  # still accepts refresh-0: a grace window
    tokens, _transport = manager(ac_profile(), server, store)
    assert tokens.get_token().refresh_token == "refresh-1"
    assert server.grants == ["refresh_token"]
    assert store.load_status(tokens.key) == TokenStatus(last_success=NOW, last_refresh=NOW)


def test_after_a_lost_refresh_a_rejected_attempt_marks_the_grant_and_others_fail_fast() -> None:
    store = MemoryTokenStore()
    _lost_refresh(store)
    server = TokenServer()
    server.valid_refresh = set()  # no grace window: refresh-0 was rotated away by the killed refresh
    tokens, _transport = manager(ac_profile(), server, store)
    with pytest.raises(InvalidGrantError):
        tokens.get_token()
    status = store.load_status(tokens.key)
    assert isinstance(status, TokenStatus)
    assert status.state is AuthState.NEEDS_REAUTHORIZATION
    assert status.chain == refresh_origin("refresh-0")
    for _ in range(5):  # every other task, in any process: no request, the message says why
        other, other_transport = manager(ac_profile(), server, store)
        with pytest.raises(ReauthorizationRequiredError, match=r"needs authorization: .*rejected \(invalid_grant\)"):
            other.get_token()
        assert other_transport.requests == []
    assert server.grants == ["refresh_token"]  # the dead token was sent once


def test_a_lost_recovery_attempt_is_not_followed_by_a_third() -> None:
    store = MemoryTokenStore()
    _lost_refresh(store, attempt=2)
    tokens, transport = manager(ac_profile(), TokenServer(), store)
    with pytest.raises(ReauthorizationRequiredError, match="refresh_lost"):
        tokens.get_token()
    assert transport.requests == []


def test_a_new_grant_in_the_connection_is_not_blocked_by_the_old_ones_failure() -> None:
    store = MemoryTokenStore()
    server = TokenServer()
    server.valid_refresh = set()
    tokens, _ = manager(ac_profile(), server, store)
    with pytest.raises(InvalidGrantError):
        tokens.get_token()
    server.valid_refresh = {"refresh-new"}  # a person authorized again: a new refresh token in the connection
    renewed, _transport = manager(ac_profile("refresh-new"), server, store)
    assert renewed.get_token().access_token == "access-1"
    status = store.load_status(renewed.key)  # the old grant's failure is cleared by the new grant's success
    assert status == TokenStatus(last_success=NOW, last_refresh=NOW)


def test_an_answered_error_clears_the_in_flight_record() -> None:
    store = MemoryTokenStore()

    def failing(request):  # type: ignore[no-untyped-def]
        return 400, {}, {"error": "invalid_client"}

    tokens, _ = manager(ac_profile(), failing, store)
    with pytest.raises(Exception, match="invalid_client"):
        tokens.get_token()
    status = store.load_status(tokens.key)
    assert isinstance(status, TokenStatus)
    assert status.in_flight is None  # the server answered: nothing was rotated, nothing lost
    assert status.state is None
    assert status.failure is not None
    assert (status.failure.kind, status.failure.at) == ("invalid_client", NOW)


def test_saving_a_rotated_token_is_retried_while_the_store_fails() -> None:
    class FlakyStore(MemoryTokenStore):
        failures = 2

        def save(self, key, token):  # type: ignore[no-untyped-def]
            if token.refresh_token and self.failures:
                self.failures -= 1
                raise TokenStoreError("Redis token store: saving a token failed: ConnectionError")
            super().save(key, token)

    store = FlakyStore()
    tokens, _ = manager(ac_profile(), TokenServer(), store)
    assert tokens.get_token().refresh_token == "refresh-1"
    assert store.load(tokens.key).refresh_token == "refresh-1"  # reached the store after the restart


def test_the_in_flight_record_keeps_the_last_failure_and_success() -> None:
    store = MemoryTokenStore()
    key = ac_profile().cache_key
    earlier = Failure(kind="unreachable", message="m", at=NOW - 10, where="d/t/try 1")
    store.save_status(key, TokenStatus(failure=earlier, last_success=NOW - 20, last_refresh=NOW - 20))
    server = TokenServer()
    seen: list[object] = []

    def watching(request):  # type: ignore[no-untyped-def]
        seen.append(store.load_status(key))
        return server(request)

    tokens, _ = manager(ac_profile(), watching, store)
    tokens.get_token()
    during = seen[0]
    assert isinstance(during, TokenStatus)
    assert during.in_flight is not None
    assert (during.failure, during.last_success) == (earlier, NOW - 20)
    assert store.load_status(key) == TokenStatus(last_success=NOW, last_refresh=NOW)


def test_a_refresh_lost_in_transit_stays_in_flight_and_its_failure_is_recorded() -> None:
    store = MemoryTokenStore()

    def reset(request):  # type: ignore[no-untyped-def]
        raise requests.exceptions.ConnectionError(ConnectionResetError(104, "Connection reset by peer"))

    tokens, _ = manager(ac_profile(), reset, store)
    with pytest.raises(EndpointUnreachableError, match="closed the connection before answering"):
        tokens.get_token()
    status = store.load_status(tokens.key)
    assert isinstance(status, TokenStatus)
    assert status.in_flight is not None  # the server may have rotated the refresh token: the next holder knows
    assert status.failure is not None
    assert (status.failure.kind, status.failure.at) == ("unreachable", NOW)


# --- the refresh token's stated lifetime ---------------------------------------------------------------------
DAY = 86400.0


def stored_chain(store: MemoryTokenStore, *, refresh_expires_at: float | None, refresh: str = "refresh-0") -> Token:
    """An expired access token of the connection's chain whose refresh token has the given stated expiry."""
    token = Token(
        access_token="access-0",
        expires_at=NOW - 60,
        refresh_token=refresh,
        issued_at=NOW - 3600,
        origin=refresh_origin("refresh-0"),
        refresh_expires_at=refresh_expires_at,
    )
    store.save(ac_profile().cache_key, token)
    return token


def test_a_refresh_token_past_its_stated_lifetime_is_not_sent_and_needs_reauthorization() -> None:
    store = MemoryTokenStore()
    stored_chain(store, refresh_expires_at=NOW - 1)
    server = TokenServer()
    tokens, transport = manager(ac_profile(), server, store)
    with pytest.raises(RefreshTokenExpiredError, match="refresh token expired at 1970-01-12 13:46 UTC") as caught:
        tokens.get_token()
    assert isinstance(caught.value, ReauthorizationRequiredError)
    status = store.load_status(tokens.key)
    assert isinstance(status, TokenStatus)
    assert status.state is AuthState.NEEDS_REAUTHORIZATION
    assert status.failure is not None
    assert status.failure.kind == REFRESH_TOKEN_EXPIRED
    assert status.chain == refresh_origin("refresh-0")
    again, transport_again = manager(ac_profile(), server, store)  # the next task fails fast, before the lock
    with pytest.raises(RefreshTokenExpiredError):
        again.get_token()
    assert transport.calls(TOKEN_URL) == []
    assert transport_again.calls(TOKEN_URL) == []
    assert server.grants == []


def test_a_refresh_token_within_its_stated_lifetime_is_sent() -> None:
    store = MemoryTokenStore()
    stored_chain(store, refresh_expires_at=NOW + 1)
    tokens, transport = manager(ac_profile(), TokenServer(), store)
    token = tokens.get_token()
    assert token.access_token == "access-1"
    assert len(transport.calls(TOKEN_URL)) == 1
    assert token.refresh_token == "refresh-1"
    assert token.refresh_expires_at is None


def test_a_refresh_token_of_unknown_lifetime_is_sent_as_before() -> None:
    store = MemoryTokenStore()
    stored_chain(store, refresh_expires_at=None)
    tokens, transport = manager(ac_profile(), TokenServer(), store)
    assert tokens.get_token().access_token == "access-1"
    assert len(transport.calls(TOKEN_URL)) == 1


def test_a_newer_grant_in_the_connection_is_sent_whatever_the_old_chains_expiry() -> None:
    store = MemoryTokenStore()
    stored_chain(store, refresh_expires_at=NOW - DAY)
    server = TokenServer()
    server.valid_refresh = {"refresh-new"}
    tokens, transport = manager(ac_profile("refresh-new"), server, store)
    assert tokens.get_token().access_token == "access-1"
    assert form(transport.calls(TOKEN_URL)[0])["refresh_token"] == "refresh-new"


def test_the_stated_lifetime_is_kept_and_carried_over_a_refresh_that_keeps_the_refresh_token() -> None:
    store = MemoryTokenStore()
    stored_chain(store, refresh_expires_at=NOW + 30 * DAY)
    answers = iter(
        [
            {"access_token": "access-1", "expires_in": 3600},  # the refresh token is kept: so is its expiry
            {"access_token": "access-2", "refresh_token": "refresh-2", "refresh_token_expires_in": 90 * DAY},
        ]
    )

    def server(request):  # type: ignore[no-untyped-def]
        return 200, {}, next(answers)

    tokens, _ = manager(ac_profile(), server, store)
    kept = tokens.get_token()
    assert (kept.refresh_token, kept.refresh_expires_at) == ("refresh-0", NOW + 30 * DAY)
    rotated = tokens.renew()
    assert (rotated.refresh_token, rotated.refresh_expires_at) == ("refresh-2", NOW + 90 * DAY)
    stored = store.load(tokens.key)
    assert stored is not None
    assert stored.refresh_expires_at == NOW + 90 * DAY
