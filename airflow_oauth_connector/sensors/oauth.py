"""OAuthConnectorSensor: poke an OAuth 2.0-protected endpoint until ``response_check`` holds (like HttpSensor)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator

from airflow_oauth_connector import config
from airflow_oauth_connector.hooks.oauth import OAuthConnectorHook, RetryOverride
from airflow_oauth_connector.operators.oauth import _call_with_context, _retry_as_dict
from airflow_oauth_connector.pagination import PageRequest

if TYPE_CHECKING:
    import requests
    from airflow.sdk import Context

#: ``extra_options`` keys that mean something to the hook rather than to ``requests``.
_HOOK_OPTIONS = ("timeout", "check_response")


class OAuthConnectorSensor(BaseSensorOperator):
    """
    Calls ``endpoint`` of the API behind an ``oauth_connector`` connection until the answer says "ready".

    Arguments follow Airflow's ``HttpSensor``: a 404 (or a status in ``response_error_codes_allowlist``)
    means "not yet"; another error status fails the task; a success means done unless ``response_check``
    says otherwise. The token is attached, renewed and the call replayed on a 401, like every other call.

    :param endpoint: path relative to the connection's API base URL (templated).
    :param method: HTTP method (templated).
    :param query_params: URL query parameters (templated); ``request_params`` is accepted as HttpSensor's
        name for the same thing.
    :param headers: extra request headers (templated).
    :param json: JSON body (templated). :param data: form or raw body (templated).
    :param response_check: ``callable(response, **context) -> bool``: ``True`` ends the wait.
    :param extra_options: ``requests`` options for each call (e.g. ``allow_redirects``); ``timeout`` is
        seconds per request (not the sensor's ``timeout``).
    :param response_error_codes_allowlist: status codes that mean "not yet" (default ``["404"]``).
    :param retry: retry-policy overrides for each call.
    :param deferrable: wait in the triggerer: each poll is one OAuthConnectorTrigger call, each pause a
        TimeDeltaTrigger of ``poke_interval``; the worker slot is free in between.
    """

    template_fields: Sequence[str] = ("endpoint", "method", "query_params", "headers", "json", "data")
    template_fields_renderers = {"query_params": "json", "headers": "json", "json": "json"}
    ui_color = "#e8f0fe"

    def __init__(
        self,
        *,
        endpoint: str | None = None,
        oauth_conn_id: str = OAuthConnectorHook.default_conn_name,
        method: str = "GET",
        query_params: Mapping[str, Any] | None = None,
        request_params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        data: Any = None,
        response_check: Callable[..., Any] | None = None,
        extra_options: Mapping[str, Any] | None = None,
        response_error_codes_allowlist: Sequence[str | int] | None = None,
        retry: RetryOverride = None,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if query_params is not None and request_params is not None:
            raise ValueError("pass query_params or request_params (HttpSensor's name), not both")
        self.endpoint = endpoint
        self.oauth_conn_id = oauth_conn_id
        self.method = method
        self.query_params = query_params if query_params is not None else request_params
        self.headers = headers
        self.json = json
        self.data = data
        self.response_check = response_check
        self.extra_options = dict(extra_options or {})
        allow = ["404"] if response_error_codes_allowlist is None else response_error_codes_allowlist
        self.response_error_codes_allowlist = {str(code) for code in allow}
        self.retry = retry
        self.deferrable = config.default_deferrable() if deferrable is None else deferrable

    @property
    def request_params(self) -> Mapping[str, Any] | None:
        """HttpSensor's name for ``query_params``."""
        return self.query_params

    @property
    def hook(self) -> OAuthConnectorHook:
        return OAuthConnectorHook(self.oauth_conn_id, retry=self.retry)

    def poke(self, context: Context) -> bool:
        options = {k: v for k, v in self.extra_options.items() if k not in _HOOK_OPTIONS}
        self.log.info("Poking %s %s", self.method.upper(), self.endpoint or "/")
        hook = self.hook
        response = hook.run(
            self.endpoint,
            self.method,
            params=dict(self.query_params or {}),
            json=self.json,
            data=self.data,
            headers=self.headers,
            timeout=self.extra_options.get("timeout"),
            check_response=False,
            **options,
        )
        return self.judge(hook, response, context)

    def judge(self, hook: OAuthConnectorHook, response: requests.Response, context: Context) -> bool:
        """Whether ``response`` ends the wait; an error status outside the allowlist fails the task."""
        if str(response.status_code) in self.response_error_codes_allowlist:
            self.log.info("HTTP %d: not yet", response.status_code)
            return False
        if self.extra_options.get("check_response", True):
            hook.check_response(response)
        if self.response_check is None:
            return True
        return bool(_call_with_context(self.response_check, response, context))

    # ------------------------------------------------------------------------------------ deferrable
    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        self.defer_poll(time.time())
        return None

    def defer_poll(self, started: float) -> None:
        """One poll in the triggerer (the token comes from the connection's token store)."""
        from airflow_oauth_connector.triggers.oauth import OAuthConnectorTrigger

        timeout = self.extra_options.get("timeout")
        self.defer(
            trigger=OAuthConnectorTrigger(
                oauth_conn_id=self.oauth_conn_id,
                method=self.method,
                request=PageRequest(self.endpoint, dict(self.query_params or {})).serialize(),
                json=self.json,
                data=self.data,
                headers=dict(self.headers) if self.headers else None,
                timeout=float(timeout) if timeout is not None else None,
                retry=_retry_as_dict(self.retry),
                check_response=False,
            ),
            method_name="poll_complete",
            kwargs={"started": started},
        )

    def poll_complete(self, context: Context, event: dict[str, Any], started: float) -> bool:
        """Back from a poll: done, or wait ``poke_interval`` in the triggerer and poll again."""
        from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger

        try:  # Airflow 3.2+
            from airflow.sdk.exceptions import AirflowSensorTimeout
        except ImportError:  # Airflow 3.1
            from airflow.exceptions import AirflowSensorTimeout  # type: ignore[attr-defined,no-redef,unused-ignore]

        from airflow_oauth_connector.events import error_from_event, response_from_event

        if event.get("status") != "success":
            raise error_from_event(event)  # the error's own type, as without deferral
        response = response_from_event(event["response"])
        if self.judge(self.hook, response, context):
            return True
        elapsed = time.time() - started
        if elapsed > self.timeout:
            raise AirflowSensorTimeout(f"Sensor has timed out after {elapsed:.0f} s (timeout {self.timeout} s)")
        self.defer(
            trigger=TimeDeltaTrigger(timedelta(seconds=self.poke_interval)),
            method_name="poll_again",
            kwargs={"started": started},
        )
        return False  # pragma: no cover - defer raises

    def poll_again(self, context: Context, event: Any = None, started: float = 0.0) -> None:
        self.defer_poll(started)
