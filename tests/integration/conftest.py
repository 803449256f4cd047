"""Fixtures for integration tests against the real DOT authorization server.

``auth_server`` (session scope): a running ``tests.support.authserver`` subprocess
(:class:`tests.support.authserver.runner.AuthServer`), started in a temporary
directory and stopped at the end of the session.  Skips (with the reason) if
Django / django-oauth-toolkit / waitress are not importable.

``fresh_stats`` (function scope): resets the server's request counters and
returns the ``AuthServer`` handle.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_REPO_ROOT = Path(__file__).resolve().parents[2]
if str(_REPO_ROOT) not in sys.path:  # e.g. with --import-mode=importlib
    sys.path.insert(0, str(_REPO_ROOT))

_SERVER_DEPS = ("django", "oauth2_provider", "waitress", "cryptography", "jwcrypto")


def _missing_server_deps() -> list[str]:
    return [m for m in _SERVER_DEPS if importlib.util.find_spec(m) is None]


@pytest.fixture(scope="session")
def auth_server(tmp_path_factory):
    missing = _missing_server_deps()
    if missing:
        pytest.skip(
            f"test OAuth server needs Django + django-oauth-toolkit + waitress; not importable: {', '.join(missing)}"
        )
    from tests.support.authserver.runner import start_auth_server

    server = start_auth_server(tmp_path_factory.mktemp("authserver"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fresh_stats(auth_server):
    auth_server.reset_stats()
    return auth_server


@pytest.fixture(scope="module")
def admin_api(server):
    """A signed-in admin's HTTP session (Bearer JWT) on the module's ``server`` (an ``ApiServer``)."""
    with server.session("admin") as session:
        yield session
