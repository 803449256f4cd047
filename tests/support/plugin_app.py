"""The plugin's web app in process for unit tests: a signing secret, a test user, a permission of the test's choice."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException

from airflow_oauth_connector.plugins.app import create_app
from airflow_oauth_connector.plugins.security import MemoryStateBackend, StateBackend

SECRET = b"unit-test-signing-secret-32-bytes!"


@dataclass(frozen=True)
class FakeUser:
    """An Airflow user as the auth manager hands it to routes (id and name)."""

    user_id: str

    def get_id(self) -> str:
        return self.user_id

    def get_name(self) -> str:
        return f"name-{self.user_id}"


def plugin_app(
    user: FakeUser | None,
    allowed: bool | Callable[[str | None], bool] = True,
    *,
    state_backend: StateBackend | None = None,
) -> FastAPI:
    """The app signed with :data:`SECRET`; ``user`` is signed in (``None``: 401); ``allowed``: may edit (per id)."""

    async def resolve(_request: Request) -> Any:
        if user is None:
            raise HTTPException(401, "Not authenticated")
        return user

    def is_allowed(_user: Any, conn_id: str | None) -> bool:
        return allowed(conn_id) if callable(allowed) else allowed

    backend = state_backend if state_backend is not None else MemoryStateBackend()
    return create_app(secret=SECRET, state_backend=backend, is_allowed=is_allowed, user_resolver=resolve)
