"""OAuthConnectorTrigger: one API call (one page) made in the triggerer with async HTTP, token from the store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_oauth_connector.calls import ApiCall
from airflow_oauth_connector.events import error_to_event, response_from_event, response_to_event
from airflow_oauth_connector.exceptions import AlreadySentError
from airflow_oauth_connector.pagination import PageRequest
from airflow_oauth_connector.retry import IDEMPOTENT_METHODS
from airflow_oauth_connector.status import CallMarker, Where, recording_where, task_where

if TYPE_CHECKING:
    from airflow_oauth_connector.hooks.oauth import OAuthConnectorHook

__all__ = ["AlreadySentError", "OAuthConnectorTrigger", "response_from_event", "response_to_event"]


class OAuthConnectorTrigger(BaseTrigger):
    """
    Sends one request through :class:`OAuthConnectorHook` in the triggerer and fires with the response.

    The call is made with async HTTP (``httpx``, through the hook's :meth:`async_client`) in the triggerer's
    event loop, so many deferred calls wait on a slow API together instead of a few threads at a time.
    Its serialized arguments hold the connection ID and the request, never a token or secret: the token
    comes from the connection's token store when the trigger runs (in a worker thread, only when no valid
    token is in memory; one token request for all the triggers of a connection). For a non-idempotent
    request (POST, PATCH) that is not ``replayable``, ``marker`` names an at-most-once record in the token
    store: a triggerer that restarts after sending does not send it again. An error fires as an event that
    keeps its type (:mod:`airflow_oauth_connector.events`).
    """

    def __init__(
        self,
        *,
        oauth_conn_id: str,
        method: str,
        request: dict[str, Any],
        json: Any = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        retry: dict[str, Any] | None = None,
        replayable: bool | None = None,
        check_response: bool = True,
        marker: str | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.oauth_conn_id = oauth_conn_id
        self.method = method
        self.request = request
        self.json = json
        self.data = data
        self.headers = headers
        self.timeout = timeout
        self.retry = retry
        self.replayable = replayable
        self.check_response = check_response
        self.marker = marker

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "oauth_conn_id": self.oauth_conn_id,
                "method": self.method,
                "request": self.request,
                "json": self.json,
                "data": self.data,
                "headers": self.headers,
                "timeout": self.timeout,
                "retry": self.retry,
                "replayable": self.replayable,
                "check_response": self.check_response,
                "marker": self.marker,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            with recording_where(self.where()):  # token requests made here are the deferred task's
                event = await self.call()
        except Exception as exc:  # reported to the task, which raises it there with its type
            event = error_to_event(exc)
        yield TriggerEvent(event)  # type: ignore[no-untyped-call]

    def where(self) -> str:
        """``dag_id/task_id/try N`` of the deferred task (the triggerer sets its task instance), else ``worker``."""
        ti = self.task_instance
        dag_id, task_id, attempt = (getattr(ti, name, None) for name in ("dag_id", "task_id", "try_number"))
        if dag_id and task_id:
            return task_where(str(dag_id), str(task_id), attempt if isinstance(attempt, int) else "?")
        return Where.WORKER.value

    async def call(self) -> dict[str, Any]:
        """Make the request; the store's at-most-once record is read and written in a worker thread."""
        from airflow_oauth_connector.hooks.oauth import OAuthConnectorHook

        hook = OAuthConnectorHook(self.oauth_conn_id, timeout=self.timeout, retry=self.retry)
        await hook.aload_profile()
        request = PageRequest.deserialize(self.request)
        once = self.marker is not None and not self._replayable(hook)
        if once:
            await asyncio.to_thread(self._claim, hook)
        call = ApiCall(self.method, self.json, self.data, self.headers, self.replayable, self.check_response)
        response = await call.asend(hook, request)
        event = {"status": "success", "response": response_to_event(response)}
        if once:
            assert self.marker is not None
            done = CallMarker("done", time.time(), response.status_code)
            await asyncio.to_thread(hook.tokens.store.save_status, self.marker, done)
        return event

    def _replayable(self, hook: OAuthConnectorHook) -> bool:
        if self.replayable is not None:
            return self.replayable
        return self.method.upper() in IDEMPOTENT_METHODS or hook.retry_policy.retry_non_idempotent

    def _claim(self, hook: OAuthConnectorHook) -> None:
        assert self.marker is not None
        store = hook.tokens.store
        with store.lock(self.marker):
            previous = store.load_status(self.marker)
            if previous is not None:
                raise AlreadySentError(
                    f"{self.method.upper()} request of this task try was already started by an earlier triggerer "
                    f"(state {previous.state!r}); it is not sent twice. Check the API, then clear the task "
                    f"to send it again"
                )
            store.save_status(self.marker, CallMarker("sent", time.time()))
