from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest

from airflow_oauth_connector.exceptions import ApiResponseError, ForeignOriginError, ProfileError
from airflow_oauth_connector.hooks import OAuthConnectorHook
from airflow_oauth_connector.status import TokenStatus
from airflow_oauth_connector.store import MemoryTokenStore
from tests.support.airflow_compat import AIRFLOW_MINOR
from tests.support.builders import API_URL, CLIENT_SECRET, TOKEN_URL, make_token, set_connection
from tests.support.fake_http import FakeTransport, TokenServer, bearer, form, query


@pytest.fixture
def connection(monkeypatch):
    def set_conn(conn_id: str = "my_api", **extra):
        return set_connection(monkeypatch, conn_id, **extra)

    return set_conn


def wired_hook(conn_id: str, api_handler, server: TokenServer | None = None, **kwargs) -> tuple:
    hook = OAuthConnectorHook(conn_id, token_store=MemoryTokenStore(), retry={"backoff_initial": 0}, **kwargs)
    transport = FakeTransport()
    transport.route("POST", TOKEN_URL, server or TokenServer())
    transport.route("*", API_URL, api_handler)
    hook.session.mount("https://", transport)
    hook.token_client.session.mount("https://", transport)
    return hook, transport


def ok(request):
    return 200, {}, {"path": str(request.url), "token": bearer(request) is not None}


def test_run_joins_endpoint_and_sends_the_token(connection):
    hook, transport = wired_hook(connection(), ok)
    response = hook.run("/items", params={"page": 2})
    assert response.json()["path"] == f"{API_URL}/items?page=2"
    api_calls = transport.calls(API_URL)
    assert bearer(api_calls[0]) == "access-1"
    assert query(api_calls[0]) == {"page": "2"}


def test_ten_runs_cost_one_token_request(connection):
    server = TokenServer()
    hook, _ = wired_hook(connection(), ok, server)
    for _ in range(10):
        hook.run("items")
    assert server.grants == ["client_credentials"]


def test_absolute_url_on_another_origin_is_refused(connection):
    hook, transport = wired_hook(connection(), ok)
    with pytest.raises(ForeignOriginError, match="only sent to the API's base URL origin"):
        hook.run("https://elsewhere.example.com/items")
    assert transport.requests == []
    assert hook.run(f"{API_URL}/items").status_code == 200


def test_non_2xx_raises_with_redacted_excerpt(connection):
    def leaky(request):
        return 400, {}, {"error": "bad", "echo": bearer(request), "secret": CLIENT_SECRET}

    hook, _ = wired_hook(connection(), leaky)
    with pytest.raises(ApiResponseError) as info:
        hook.run("items", params={"api_key": "k"})
    assert info.value.http_status == 400
    text = str(info.value)
    assert "access-1" not in text
    assert CLIENT_SECRET not in text
    assert "api_key" not in text  # the query string is not echoed
    assert "bad" in text
    assert hook.run("items", check_response=False).status_code == 400


def test_get_is_retried_post_is_not_replayed_after_a_502(connection):
    replies = iter([502, 502, 200])

    def flaky(request):
        return next(replies), {}, {}

    hook, transport = wired_hook(connection(), flaky)
    assert hook.run("items").status_code == 200
    assert len(transport.calls(API_URL)) == 3

    replies = iter([502, 200])
    with pytest.raises(ApiResponseError):
        hook.run("items", method="POST", json={"a": 1})
    replies = iter([502, 200])
    assert hook.run("items", method="POST", json={"a": 1}, replayable=True).status_code == 200


def test_each_retry_attaches_the_current_token(connection):
    seen: list[str | None] = []

    def api(request):
        seen.append(bearer(request))
        if len(seen) == 1:
            return 401, {}, {}
        if len(seen) == 2:
            return 503, {"Retry-After": "0"}, {}
        return 200, {}, {}

    hook, _ = wired_hook(connection(), api)
    assert hook.run("items").status_code == 200
    assert seen == ["access-1", "access-2", "access-2"]


def test_per_call_retry_override(connection):
    hook, transport = wired_hook(connection(), lambda r: (503, {}, {}))
    with pytest.raises(ApiResponseError):
        hook.run("items", retry={"max_attempts": 2})
    assert len(transport.calls(API_URL)) == 2


def test_get_access_token_and_conn(connection):
    hook, _ = wired_hook(connection(), ok)
    assert hook.get_access_token() == "access-1"
    assert hook.get_conn() is hook.session
    assert hook.get_conn().base_url == API_URL
    assert CLIENT_SECRET not in repr(hook)


def test_test_connection_reports_success_without_secrets(connection):
    hook, _ = wired_hook(connection(scope="read"), ok)
    success, message = hook.test_connection()
    assert success
    assert "client_credentials" in message
    assert re.search(r"expires in 3(599|600) s", message)  # a 3600 s token, measured right after the request
    assert "access-1" not in message
    assert CLIENT_SECRET not in message


def test_test_connection_reports_failure(connection):
    server = TokenServer()
    hook, _ = wired_hook(connection(), ok, server)
    hook.token_client.session.adapters["https://"].routes.insert(
        0, ("POST", TOKEN_URL, lambda r: (401, {}, {"error": "invalid_client", "error_description": "unknown client"}))
    )
    success, message = hook.test_connection()
    assert not success
    assert "invalid_client" in message
    assert CLIENT_SECRET not in message


def test_test_connection_needs_authorization_for_code_grant(connection):
    conn_id = connection(grant_type="authorization_code", authorize_url="https://auth.example.com/authorize")
    hook, _ = wired_hook(conn_id, ok)
    success, message = hook.test_connection()
    assert not success
    assert "needs authorization" in message


def test_invalid_profile_surfaces_as_profile_error(connection):
    conn_id = connection(grant_type="implicit")
    with pytest.raises(ProfileError, match="grant_type"):
        OAuthConnectorHook(conn_id).run("x")


def test_hook_metadata():
    assert OAuthConnectorHook.conn_type == "oauth_connector"
    assert OAuthConnectorHook.conn_name_attr == "oauth_conn_id"
    assert OAuthConnectorHook.default_conn_name == "oauth_connector_default"


@pytest.mark.parametrize(
    "link",
    [
        "file:///etc/passwd",
        "http://api.example.com/v1/items?page=2",  # https -> http downgrade
        "https://api.example.com.evil.test/v1/items",
        "https://api.example.com:8443/v1/items",
        "//evil.test/v1/items",
    ],
)
def test_links_to_other_origins_are_refused(monkeypatch, link):
    set_connection(monkeypatch, "hostile")
    hook = OAuthConnectorHook("hostile")
    if link.startswith("//"):
        link = "https:" + link
    with pytest.raises(ForeignOriginError) as info:
        hook.url_for(link)
    assert CLIENT_SECRET not in str(info.value)


def test_a_failed_test_is_recorded_as_in_test_and_the_next_success_clears_it(connection, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CTX_DAG_ID", "d")  # even where a task's variables are set, a test is a test
    monkeypatch.setenv("AIRFLOW_CTX_TASK_ID", "t")
    hook, transport = wired_hook(connection(), ok)
    refuse = ("POST", TOKEN_URL, lambda r: (401, {}, {"error": "invalid_client", "error_description": "unknown"}))
    transport.routes.insert(0, refuse)
    success, message = hook.test_connection()
    assert not success
    assert message.startswith(f"Could not obtain a token: Connection 'my_api': token endpoint {TOKEN_URL} returned")
    status = hook.tokens.store.load_status(hook.tokens.key)
    assert isinstance(status, TokenStatus)
    assert status.failure is not None
    assert (status.failure.kind, status.failure.where) == ("invalid_client", "test")
    transport.routes.remove(refuse)
    success, _ = hook.test_connection()
    assert success
    after = hook.tokens.store.load_status(hook.tokens.key)
    assert isinstance(after, TokenStatus)
    assert after.failure is None
    assert after.last_success is not None


def test_run_passes_requests_own_options_through(connection):
    seen = {}

    def capture_files(request):
        seen["content_type"] = request.headers.get("Content-Type", "")
        seen["body"] = request.body
        return 200, {}, {}

    hook, _ = wired_hook(connection(), capture_files)
    hook.run("upload", method="POST", files={"report": ("r.csv", b"a,b\n1,2\n")}, allow_redirects=False)
    assert seen["content_type"].startswith("multipart/form-data")
    assert b"a,b\n1,2\n" in seen["body"]


def test_arun_refuses_an_option_it_does_not_know(connection):
    import asyncio

    hook = OAuthConnectorHook(connection(), token_store=MemoryTokenStore())
    with pytest.raises(TypeError, match="unexpected keyword arguments: files, stream"):
        asyncio.run(hook.arun("items", files={}, stream=True))  # type: ignore[call-arg]


def test_aload_profile_reads_the_connection_as_the_sync_hook_does(connection):
    import asyncio
    import threading

    from airflow_oauth_connector.profile import OAuthProfile

    conn_id = connection(scope="read write", api_headers={"X-Api": "1"})
    parsed_in: list[bool] = []
    parse = OAuthProfile.from_connection

    def spied(conn, extra=None):
        parsed_in.append(threading.current_thread() is threading.main_thread())
        return parse(conn, extra)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(OAuthProfile, "from_connection", spied)
        hook = OAuthConnectorHook(conn_id)
        loaded = asyncio.run(hook.aload_profile())
    assert parsed_in == [False]  # parsed by from_connection, in a worker thread (not on the event loop)
    assert hook.profile is loaded  # later reads use it
    assert loaded == OAuthConnectorHook(conn_id).profile


def test_aload_profile_refuses_an_extra_that_is_not_json(monkeypatch):
    import asyncio
    import json

    body = {"conn_type": "oauth_connector", "host": API_URL, "login": "c", "password": "s", "extra": "{not json"}
    monkeypatch.setenv("AIRFLOW_CONN_NOT_JSON", json.dumps(body))
    # Airflow 3.1's environment-variable backend cannot read such a connection at all ("isn't defined", both
    # ways); from 3.2 it hands the extra over and the profile refuses it. Either way both reads agree.
    expected = ProfileError if AIRFLOW_MINOR >= (3, 2) else Exception
    with pytest.raises(expected, match="extra" if expected is ProfileError else "not_json") as async_error:
        asyncio.run(OAuthConnectorHook("not_json").aload_profile())
    with pytest.raises(expected) as sync_error:
        _ = OAuthConnectorHook("not_json").profile
    assert type(async_error.value) is type(sync_error.value)
    assert str(async_error.value) == str(sync_error.value)


def test_a_profile_read_in_an_event_loop_lives_with_its_hook_only(connection):
    import asyncio
    import gc
    import weakref

    hook = OAuthConnectorHook(connection())
    kept = weakref.ref(asyncio.run(hook.aload_profile()))
    del hook
    gc.collect()
    assert kept() is None  # no process-wide cache keeps the client secret


def test_run_and_arun_raise_the_same_error_for_a_non_2xx(connection):
    import asyncio

    import httpx

    def leaky(request):
        return 403, {}, {"error": "denied", "echo": bearer(request), "secret": CLIENT_SECRET}

    hook, _ = wired_hook(connection(), leaky)
    with pytest.raises(ApiResponseError) as sync_error:
        hook.run("items", params={"api_key": "k"})

    def api(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json=leaky(request)[2], request=request)

    async def call() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(api)) as client:
            await hook.arun("items", params={"api_key": "k"}, client=client)

    with pytest.raises(ApiResponseError) as async_error:
        asyncio.run(call())
    fields = ("method", "url", "http_status")
    assert [getattr(async_error.value, f) for f in fields] == [getattr(sync_error.value, f) for f in fields]
    assert async_error.value.reason == "Forbidden"  # httpx's reason phrase (the fake requests transport has none)
    for error in (sync_error.value, async_error.value):
        assert "denied" in error.excerpt
        assert CLIENT_SECRET not in str(error)
        assert "access-1" not in str(error)
        assert "api_key" not in str(error)


# -- test_connection: the connection read and parsed once; refused settings recorded ----------------------------


def _count_reads_and_parses(monkeypatch, hook: OAuthConnectorHook) -> dict[str, int]:
    """Counts the hook's connection reads and the profile parser's runs (the real ones, wrapped)."""
    from airflow_oauth_connector.profile import OAuthProfile

    counts = {"reads": 0, "parses": 0}
    read, parse = hook.get_connection, OAuthProfile.parse_applied.__func__

    def counted_read(conn_id):
        counts["reads"] += 1
        return read(conn_id)

    def counted_parse(cls, *args, **kwargs):
        counts["parses"] += 1
        return parse(cls, *args, **kwargs)

    monkeypatch.setattr(hook, "get_connection", counted_read)
    monkeypatch.setattr(OAuthProfile, "parse_applied", classmethod(counted_parse))
    return counts


def test_a_test_reads_and_parses_the_connection_once(connection, monkeypatch):
    hook, transport = wired_hook(connection(scope="read"), ok)
    counts = _count_reads_and_parses(monkeypatch, hook)
    success, _ = hook.test_connection()
    assert success
    assert counts == {"reads": 1, "parses": 1}
    assert len(transport.calls(TOKEN_URL)) == 1


def test_refused_settings_are_recorded_as_an_invalid_settings_failure_in_test(connection):
    from airflow_oauth_connector.status import settings_key

    store = MemoryTokenStore()
    conn_id = connection(access_url="http://auth.example.com/oauth/token")
    success, message = OAuthConnectorHook(conn_id, token_store=store).test_connection()
    assert not success
    assert message.startswith("Invalid settings, no token requested: Access token URL (access_url): must use https")
    record = store.load_status(settings_key(conn_id))
    assert isinstance(record, TokenStatus)
    assert record.failure is not None
    assert (record.failure.kind, record.failure.where) == ("invalid_settings", "test")
    assert record.failure.message.startswith(f"Connection {conn_id!r}: Access token URL (access_url): must use https")
    assert CLIENT_SECRET not in record.failure.message
    assert record.last_event_failed


def test_a_store_that_cannot_record_the_refusal_does_not_change_the_tests_answer(connection, caplog):
    import logging

    from airflow_oauth_connector.exceptions import TokenStoreError

    class Down(MemoryTokenStore):
        def save_status(self, key, status):
            raise TokenStoreError(f"saving failed ({CLIENT_SECRET})")

    conn_id = connection(access_url="http://auth.example.com/oauth/token")
    with caplog.at_level(logging.WARNING, logger="airflow_oauth_connector.status"):
        success, message = OAuthConnectorHook(conn_id, token_store=Down()).test_connection()
    assert not success
    assert message.startswith("Invalid settings, no token requested: Access token URL (access_url)")
    assert f"Connection {conn_id!r}: could not record the test in the token store (TokenStoreError)" in caplog.text
    assert CLIENT_SECRET not in caplog.text


# -- Airflow's Connections-page Test: a copy under a random id, nothing kept under that id -----------------------


def _press_airflow_test(fields: dict[str, Any]) -> tuple[bool, str, str]:
    """
    What ``POST /api/v2/connections/test`` does (airflow/api_fastapi/core_api/routes/public/connections.py): the
    form's connection ``fields`` under a random id, exported as ``AIRFLOW_CONN_<ID>`` for the test and removed
    after; returns the test's answer and the random id.
    """
    from airflow.models import Connection
    from airflow.utils.strings import get_random_string

    transient = get_random_string()
    copy = Connection(conn_id=transient, **fields)
    variable = f"AIRFLOW_CONN_{transient.upper()}"
    os.environ[variable] = copy.get_uri()
    try:
        success, message = copy.test_connection()
    finally:
        os.environ.pop(variable, None)
    return success, message, transient


def _stored_fields(conn_id: str, **changes: str) -> dict[str, Any]:
    """The stored connection's fields, as the route merges them into the copy it tests (with ``changes``)."""
    from airflow.models import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        stored = session.scalar(select(Connection).where(Connection.conn_id == conn_id))
        assert stored is not None
        return {"conn_type": stored.conn_type, "host": stored.host, "login": stored.login,
                "password": stored.password, "extra": stored.extra, **changes}  # fmt: skip


@pytest.fixture
def stored_db(tmp_path):
    from tests.support.connection_table import connection_table

    with connection_table(tmp_path / "connections.db"):
        yield


def _token_server(monkeypatch, handler=None) -> FakeTransport:
    """Every session's requests go to a fake token endpoint (the route builds the hook itself)."""
    import requests

    transport = FakeTransport()
    transport.route("POST", TOKEN_URL, handler or TokenServer())
    monkeypatch.setattr(requests.Session, "get_adapter", lambda self, url: transport)
    return transport


def _files(directory) -> set[str]:
    return {path.name for path in directory.iterdir()} if directory.exists() else set()


@pytest.mark.parametrize("outcome", ["success", "failure"])
def test_an_airflow_test_records_on_the_stored_connection_and_nothing_under_its_random_id(
    stored_db, file_token_store, monkeypatch, outcome
):
    from airflow_oauth_connector.authorization import connection_status, load_profile
    from airflow_oauth_connector.status import settings_key
    from airflow_oauth_connector.store.codec import key_digest
    from tests.support.authorization import add_connection, extra_for

    refuse = lambda r: (401, {}, {"error": "invalid_client", "error_description": "unknown client"})  # noqa: E731
    transport = _token_server(monkeypatch, refuse if outcome == "failure" else None)
    conn_id = add_connection(extra_for("client_credentials"))
    twin = load_profile(conn_id)
    success, message, transient = _press_airflow_test(_stored_fields(conn_id))
    assert success is (outcome == "success"), message
    assert len(transport.calls(TOKEN_URL)) == 1
    status = connection_status(conn_id)  # what the profiles page and 'status' show for the stored connection
    if outcome == "success":
        assert (status.state, status.last_failure) == ("ready", None)
        assert status.last_success is not None
    else:
        assert status.state == "failing"
        assert status.last_failure is not None
        assert (status.last_failure.kind, status.last_failure.where) == ("invalid_client", "test")
    # Nothing under the copy's key (its token, status record, lock) nor its settings key: the test ran as the
    # stored connection, so its key holds the status record, the lock and (after a success) the new token
    copy_keys = {key_digest(f"{transient}:{twin.cache_key.split(':', 1)[1]}"), key_digest(settings_key(transient))}
    assert not {name.split(".")[0] for name in _files(file_token_store)} & copy_keys
    kept = {f"{key_digest(twin.cache_key)}.{kind}" for kind in ("status", "lock")}
    if outcome == "success":
        kept.add(f"{key_digest(twin.cache_key)}.token")  # the tested token serves the stored connection's tasks
    assert _files(file_token_store) == kept


def test_an_airflow_test_of_an_authorized_connection_refreshes_with_the_stored_chain_and_keeps_the_rotation(
    stored_db, file_token_store, monkeypatch
):
    """
    Tasks rotated the refresh token after authorization, so the connection's extra holds a dead one: the
    Connections page's Test (a copy under a random id) must refresh with the newest one the store holds and save
    the rotated one where tasks read it — a replay of the dead one is what reuse detection revokes a grant for.
    """
    from airflow_oauth_connector.authorization import connection_status, load_profile
    from airflow_oauth_connector.store import store_for
    from airflow_oauth_connector.token import refresh_origin
    from tests.support.authorization import add_connection, extra_for

    server = TokenServer()
    server.valid_refresh = {"refresh-rotated"}  # "refresh-0", the extra's, was rotated away by a task
    transport = _token_server(monkeypatch, server)
    conn_id = add_connection(extra_for(refresh_token="refresh-0"))
    twin = load_profile(conn_id)
    store = store_for(twin)
    store.save(
        twin.cache_key, make_token("access-old", refresh="refresh-rotated").with_origin(refresh_origin("refresh-0"))
    )
    success, message, _ = _press_airflow_test(_stored_fields(conn_id))
    assert success, message
    assert [form(call)["refresh_token"] for call in transport.calls(TOKEN_URL)] == ["refresh-rotated"]
    kept = store.load(twin.cache_key)
    assert kept is not None
    assert kept.refresh_token == "refresh-1"  # the rotated one, where the stored connection's tasks read it
    assert server.valid_refresh == {"refresh-1"}
    assert (connection_status(conn_id).state, connection_status(conn_id).last_failure) == ("authorized", None)


def test_an_airflow_test_runs_as_the_first_twin_and_records_on_the_others(stored_db, file_token_store, monkeypatch):
    """Two stored connections with the same settings: the copy runs as the first (by id), both show the outcome."""
    from airflow_oauth_connector.authorization import connection_status
    from tests.support.authorization import add_connection, extra_for

    refuse = lambda r: (401, {}, {"error": "invalid_client", "error_description": "unknown client"})  # noqa: E731
    transport = _token_server(monkeypatch, refuse)
    twins = sorted(add_connection(extra_for("client_credentials")) for _ in range(2))
    success, message, _ = _press_airflow_test(_stored_fields(twins[1]))
    assert not success, message
    assert len(transport.calls(TOKEN_URL)) == 1  # one token request, as the first twin
    for conn_id in twins:
        failure = connection_status(conn_id).last_failure
        assert failure is not None
        assert (failure.kind, failure.where) == ("invalid_client", "test")


def test_an_airflow_test_of_changed_settings_of_an_authorized_connection_sends_no_refresh_token(
    stored_db, file_token_store, monkeypatch
):
    """Changed settings have no stored twin: a refresh would rotate the saved connection's token into nowhere."""
    from tests.support.authorization import add_connection, extra_for

    transport = _token_server(monkeypatch)
    conn_id = add_connection(extra_for(refresh_token="refresh-0"))
    changed = json.dumps(extra_for(refresh_token="refresh-0", scope="read write admin"))
    success, message, _ = _press_airflow_test(_stored_fields(conn_id, extra=changed))
    assert not success
    assert message.startswith("Not tested: these settings differ from the saved connection's")
    assert transport.calls(TOKEN_URL) == []
    assert _files(file_token_store) == set()


def test_an_airflow_test_of_refused_settings_leaves_nothing_in_the_store(stored_db, file_token_store, monkeypatch):
    import json

    from airflow_oauth_connector.authorization import connection_status
    from tests.support.authorization import add_connection, extra_for

    transport = _token_server(monkeypatch)
    conn_id = add_connection(extra_for("client_credentials"))
    refused = json.dumps(extra_for("client_credentials", access_url="http://auth.example.com/oauth/token"))
    success, message, _ = _press_airflow_test(_stored_fields(conn_id, extra=refused))
    assert not success
    assert message.startswith("Invalid settings, no token requested: Access token URL (access_url): must use https")
    assert transport.calls(TOKEN_URL) == []
    assert _files(file_token_store) == set()  # no invalid_settings record under the copy's random id
    assert connection_status(conn_id).state == "not_tested"  # other settings than the stored ones: not its test


def test_an_airflow_test_of_unsaved_settings_leaves_nothing_in_the_store(stored_db, file_token_store, monkeypatch):
    """The Add connection form's Test before Save: no stored twin to record on, nothing kept under the random id."""
    import json

    from tests.support.authorization import SECRET, extra_for

    transport = _token_server(monkeypatch)
    fields = {"conn_type": "oauth_connector", "host": API_URL, "login": "client-1", "password": SECRET,
              "extra": json.dumps(extra_for("client_credentials"))}  # fmt: skip
    success, message, _ = _press_airflow_test(fields)
    assert success, message
    assert len(transport.calls(TOKEN_URL)) == 1
    assert _files(file_token_store) == set()


def test_a_connection_of_an_id_of_its_own_keeps_its_test_records(stored_db, file_token_store, monkeypatch):
    """Only Airflow's copies are kept private: a connection defined by its variable alone records its test."""
    from airflow_oauth_connector.authorization import load_profile
    from airflow_oauth_connector.store.codec import key_digest

    _token_server(monkeypatch)
    conn_id = set_connection(monkeypatch, "my_env_api")
    success, message = OAuthConnectorHook(conn_id).test_connection()
    assert success, message
    key = key_digest(load_profile(conn_id).cache_key)
    assert {f"{key}.token", f"{key}.status"} <= _files(file_token_store)


def test_arun_reads_a_chunked_answer_for_a_renew_signal(connection):
    """``arun`` reads the whole answer anyway, so a body of undeclared length (chunked, as servers that compress
    on the fly send it) is judged by the connection's renew signal: Slack's 200 token_expired renews once."""
    import asyncio

    import httpx

    slack = {"statuses": [200], "path": "error", "values": ["token_expired"]}
    hook, transport = wired_hook(connection(renew_on=slack), ok)
    seen: list[str | None] = []

    def api(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Authorization"))
        answer = {"ok": True} if seen[-1] == "Bearer access-2" else {"ok": False, "error": "token_expired"}
        body = httpx.ByteStream(json.dumps(answer).encode())  # no Content-Length
        return httpx.Response(200, headers={"Content-Type": "application/json"}, stream=body, request=request)

    async def call() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.MockTransport(api)) as client:
            return await hook.arun("chat.postMessage", "POST", json={"text": "hi"}, client=client)

    response = asyncio.run(asyncio.wait_for(call(), 10))
    assert "content-length" not in response.headers
    assert response.json() == {"ok": True}
    assert seen == ["Bearer access-1", "Bearer access-2"]  # renewed once, the request replayed
    assert len(transport.calls(TOKEN_URL)) == 2
