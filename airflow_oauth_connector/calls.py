"""One API request of a (possibly paginated) call, as the operator and its trigger both send it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx
    import requests

    from airflow_oauth_connector.hooks.oauth import OAuthConnectorHook
    from airflow_oauth_connector.pagination import PageRequest


@dataclass(frozen=True)
class ApiCall:
    """What stays the same on every page of a call; the page request adds endpoint and query."""

    method: str = "GET"
    json: Any = None
    data: Any = None
    headers: Mapping[str, str] | None = None
    replayable: bool | None = None
    check_response: bool = True

    def send(self, hook: OAuthConnectorHook, request: PageRequest) -> requests.Response:
        return hook.run(request.endpoint, self.method, **self._arguments(request))

    async def asend(self, hook: OAuthConnectorHook, request: PageRequest) -> httpx.Response:
        """:meth:`send` in an event loop (through the loop's shared httpx client)."""
        return await hook.arun(request.endpoint, self.method, **self._arguments(request))

    def _arguments(self, request: PageRequest) -> dict[str, Any]:
        """The keyword arguments of ``hook.run`` / ``hook.arun`` for one page."""
        return {
            "params": request.params,
            "json": self.json,
            "data": self.data,
            "headers": self.headers,
            "replayable": self.replayable,
            "check_response": self.check_response,
        }
