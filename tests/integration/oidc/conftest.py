"""Fixtures for integration tests against oidc-provider (Node.js) and its DPoP-validating API.

``oidc_server`` (session scope): one server for the session (started on first use, ~1 s; the first run also
installs the npm package). Skips with the reason where Node.js or npm is absent.
"""

from __future__ import annotations

import pytest

from tests.support.oidc import OidcServer, node_missing, start_oidc_server


@pytest.fixture(scope="session")
def oidc_server(tmp_path_factory: pytest.TempPathFactory):
    missing = node_missing()
    if missing:
        pytest.skip(missing)
    server = start_oidc_server(tmp_path_factory.mktemp("oidc"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def oidc(oidc_server: OidcServer) -> OidcServer:
    """The server with its counters reset."""
    oidc_server.reset()
    return oidc_server
