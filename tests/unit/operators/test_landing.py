"""The operator with a destination: pages streamed one at a time, commit once, abort on failure, manifest."""

from __future__ import annotations

import types
from typing import Any

import pytest

from airflow_oauth_connector.destinations import RunKey
from airflow_oauth_connector.exceptions import ApiResponseError, DestinationUnavailableError
from airflow_oauth_connector.incremental import Incremental
from airflow_oauth_connector.operators import OAuthConnectorOperator
from airflow_oauth_connector.pagination import OffsetPaginator
from tests.support.builders import API_URL, TOKEN_URL, set_connection
from tests.support.fake_http import FakeTransport, TokenServer, intercept, query

pytestmark = pytest.mark.timeout(60)

TOTAL = 35


class RecordingLoad:
    """A destination that records what it was given, and how many API pages had been served at each write."""

    def __init__(self, owner: RecordingDestination) -> None:
        self.owner = owner

    def write(self, records: list[Any]) -> None:
        self.owner.writes.append((len(records), len(self.owner.transport.calls(f"{API_URL}/items"))))

    def commit(self) -> dict[str, Any]:
        self.owner.events.append("commit")
        return {"files": ["f"]}

    def abort(self) -> None:
        self.owner.events.append("abort")


class RecordingDestination:
    template_fields = ()

    def __init__(self, transport: FakeTransport, fail_open: bool = False) -> None:
        self.transport = transport
        self.fail_open = fail_open
        self.writes: list[tuple[int, int]] = []
        self.events: list[str] = []
        self.runs: list[RunKey] = []

    def describe(self) -> str:
        return "recording"

    def open(self, run: RunKey) -> RecordingLoad:
        if self.fail_open:
            raise DestinationUnavailableError("recording", "PermissionError")
        self.runs.append(run)
        return RecordingLoad(self)


def items(request):
    params = query(request)
    if params.get("fail"):
        return 400, {}, {"error": "bad"}
    offset, limit = int(params["offset"]), int(params["limit"])
    since = int(params.get("since", 0))
    ids = [i for i in range(1, TOTAL + 1) if i > since][offset : offset + limit]
    return 200, {}, {"items": [{"id": i, "v": i * 10} for i in ids]}


@pytest.fixture
def wired(monkeypatch):
    """The connection ``my_api``; its token endpoint and ``/items`` (offset pages of TOTAL ids) in process."""
    set_connection(monkeypatch, "my_api")
    transport = FakeTransport()
    transport.route("POST", TOKEN_URL, TokenServer())
    transport.route("GET", f"{API_URL}/items", items)
    return intercept(monkeypatch, transport)


def operator(destination, **kwargs) -> OAuthConnectorOperator:
    return OAuthConnectorOperator(
        task_id="t",
        oauth_conn_id="my_api",
        endpoint="items",
        pagination=OffsetPaginator(limit=10, records_path="items"),
        destination=destination,
        retry={"max_attempts": 1},
        **kwargs,
    )


def context():
    return {"ti": types.SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=-1, try_number=2)}


def test_each_page_is_written_as_it_arrives(wired):
    dest = RecordingDestination(wired)
    manifest = operator(dest).execute(context())
    # page k is written after k API calls: never all pages first
    assert dest.writes == [(10, 1), (10, 2), (10, 3), (5, 4)]
    assert dest.events == ["commit"]
    assert manifest == {"records": 35, "pages": 4, "files": ["f"]}
    assert dest.runs == [RunKey("d", "t", "r", try_number=2)]


def test_api_failure_aborts_and_nothing_is_committed(wired):
    dest = RecordingDestination(wired)
    with pytest.raises(ApiResponseError):
        operator(dest, query_params={"fail": "1"}).execute(context())
    assert dest.events == ["abort"]


def test_destination_is_checked_before_any_api_call(wired):
    with pytest.raises(DestinationUnavailableError, match="recording"):
        operator(RecordingDestination(wired, fail_open=True)).execute(context())
    assert wired.requests == []


def test_incremental_sends_the_mark_and_stores_the_new_one_after_commit(wired, monkeypatch):
    dest = RecordingDestination(wired)
    stored: dict[str, Any] = {"k": 20}
    saved: list[tuple] = []
    monkeypatch.setattr(Incremental, "load", lambda self, key: stored.get("k", self.initial_value))

    def save(self, key, value, run_id):
        saved.append((key, value, run_id, list(dest.events)))

    monkeypatch.setattr(Incremental, "save", save)
    inc = Incremental(cursor_path="id", request_param="since", initial_value=0)
    manifest = operator(dest, incremental=inc).execute(context())
    assert query(wired.calls(f"{API_URL}/items")[0])["since"] == "20"
    assert manifest["cursor"] == 35
    assert manifest["records"] == 15
    assert saved == [("oauth_connector.incremental.d.t.my_api", 35, "r", ["commit"])]  # after the commit


def test_incremental_mark_unchanged_on_failure(wired, monkeypatch):
    saved: list[Any] = []
    monkeypatch.setattr(Incremental, "load", lambda self, key: None)
    monkeypatch.setattr(Incremental, "save", lambda self, *a: saved.append(a))
    inc = Incremental(cursor_path="id", request_param="since")
    with pytest.raises(ApiResponseError):
        operator(RecordingDestination(wired), incremental=inc, query_params={"fail": "1"}).execute(context())
    assert saved == []


def test_landing_arguments_are_checked_at_parse_time(wired):
    with pytest.raises(ValueError, match="deferrable=True cannot be combined with a destination"):
        operator(RecordingDestination(wired), deferrable=True)
    with pytest.raises(ValueError, match="incremental needs a destination"):
        OAuthConnectorOperator(task_id="t", incremental=Incremental(cursor_path="id"))
    with pytest.raises(ValueError, match="response_filter"):
        operator(RecordingDestination(wired), response_filter=lambda r: r)
    assert "destination" in OAuthConnectorOperator.template_fields


def test_a_mark_that_cannot_be_stored_fails_without_retry_and_says_how_to_store_it(wired, monkeypatch):
    from airflow_oauth_connector.exceptions import AirflowFailException, IncrementalMarkError

    dest = RecordingDestination(wired)
    monkeypatch.setattr(Incremental, "load", lambda self, key: None)

    def save(self, key, value, run_id):
        raise ConnectionError("execution API unreachable")

    monkeypatch.setattr(Incremental, "save", save)
    inc = Incremental(cursor_path="id", request_param="since")
    with pytest.raises(IncrementalMarkError) as caught:
        operator(dest, incremental=inc).execute(context())
    assert isinstance(caught.value, AirflowFailException)  # no retry: it would load the committed records again
    assert dest.events == ["commit"]  # committed, not aborted
    message = str(caught.value)
    assert "35 record(s) were committed to recording" in message
    assert "airflow variables set oauth_connector.incremental.d.t.my_api '{\"cursor\": 35}'" in message
    assert "ConnectionError" in message
    assert caught.value.key == "oauth_connector.incremental.d.t.my_api"
    assert caught.value.mark == 35
