"""OAuthConnectorTrigger: one API call (one page) made in the triggerer, token taken from the shared store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import requests
from airflow.triggers.base import BaseTrigger, TriggerEvent
from requests.structures import CaseInsensitiveDict

from airflow_oauth_connector.calls import ApiCall
from airflow_oauth_connector.exceptions import AlreadySentError
from airflow_oauth_connector.pagination import PageRequest
from airflow_oauth_connector.redaction import redact
from airflow_oauth_connector.retry import IDEMPOTENT_METHODS
from airflow_oauth_connector.status import CallMarker

#: Response headers a page needs after the deferral (pagination reads ``Link``).
_KEPT_HEADERS = ("Content-Type", "Link", "Retry-After", "Location")


class OAuthConnectorTrigger(BaseTrigger):
    """
    Sends one request through :class:`OAuthConnectorHook` in the triggerer and fires with the response.

    Its serialized arguments hold the connection ID and the request, never a token or secret: the token
    comes from the connection's token store when the trigger runs. For a non-idempotent request (POST,
    PATCH) that is not ``replayable``, ``marker`` names an at-most-once record in the token store: a
    triggerer that restarts after sending does not send it again.
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
            event = await asyncio.to_thread(self.call)
        except Exception as exc:  # reported to the task, which raises it there
            event = {
                "status": "error",
                "error_type": type(exc).__name__,
                "message": redact(str(exc), limit=1000, folded=False),
            }
        yield TriggerEvent(event)  # type: ignore[no-untyped-call]

    def call(self) -> dict[str, Any]:
        """Make the request (blocking; run in a thread by :meth:`run`)."""
        from airflow_oauth_connector.hooks.oauth import OAuthConnectorHook

        hook = OAuthConnectorHook(self.oauth_conn_id, timeout=self.timeout, retry=self.retry)
        request = PageRequest.deserialize(self.request)
        once = self.marker is not None and not self._replayable(hook)
        if once:
            self._claim(hook)
        call = ApiCall(self.method, self.json, self.data, self.headers, self.replayable, self.check_response)
        response = call.send(hook, request)
        if once:
            assert self.marker is not None
            hook.tokens.store.save_status(self.marker, CallMarker("done", time.time(), response.status_code))
        return {"status": "success", "response": response_to_event(response)}

    def _replayable(self, hook: Any) -> bool:
        if self.replayable is not None:
            return self.replayable
        return self.method.upper() in IDEMPOTENT_METHODS or hook.retry_policy.retry_non_idempotent

    def _claim(self, hook: Any) -> None:
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


def response_to_event(response: requests.Response) -> dict[str, Any]:
    """The JSON-serialisable parts of a response that the task needs after the deferral."""
    return {
        "status_code": response.status_code,
        "reason": response.reason,
        "url": response.url,
        "method": response.request.method if response.request is not None else None,
        "headers": {k: response.headers[k] for k in _KEPT_HEADERS if k in response.headers},
        "body": response.content.decode(response.encoding or "utf-8", errors="replace"),
    }


def response_from_event(payload: dict[str, Any]) -> requests.Response:
    """Rebuild a ``requests.Response`` (status, URL, kept headers, body) from :func:`response_to_event`."""
    response = requests.Response()
    response.status_code = int(payload["status_code"])
    response.reason = payload.get("reason") or ""
    response.url = payload.get("url") or ""
    response.headers = CaseInsensitiveDict(payload.get("headers") or {})
    response._content = str(payload.get("body") or "").encode("utf-8")
    response.encoding = "utf-8"
    prepared = requests.PreparedRequest()
    prepared.method = payload.get("method")
    prepared.url = response.url
    response.request = prepared
    return response
