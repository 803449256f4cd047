"""The one-time Authorize step, scripted: a real refresh token from the test server for an ``ac``-style client.

Builds the authorization request with the package (PKCE S256, state), lets the server's scripted browser log
in and consent, checks the state, and exchanges the code with the package's token client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from airflow_oauth_connector.grants import build_authorization_request
from airflow_oauth_connector.profile import OAuthProfile
from airflow_oauth_connector.token_client import TokenClient

if TYPE_CHECKING:
    from tests.support.authserver.runner import AuthServer


def authorization_code_profile(server: AuthServer, conn_id: str = "oauth_demo_ac", client: str = "ac") -> OAuthProfile:
    c = server.client(client)
    return OAuthProfile.from_fields(
        conn_id,
        host=server.api_base,
        login=c.client_id,
        password=c.client_secret,
        extra={
            "grant_type": "authorization_code",
            "access_url": server.token_url,
            "authorize_url": server.authorize_url,
            "scope": "read write",
            **({"client_auth": "none"} if c.client_secret is None else {}),
        },
    )


def obtain_refresh_token(server: AuthServer, profile: OAuthProfile | None = None, client: str = "ac") -> str:
    """Authorize once as the seeded user and return the refresh token the server issued."""
    profile = profile or authorization_code_profile(server, client=client)
    redirect_uri = server.client(client).redirect_uris[0]
    request = build_authorization_request(profile, server.authorize_url, redirect_uri=redirect_uri)
    landed = parse_qs(urlsplit(server.authorize_url_flow(request.url)).query)
    if landed.get("state") != [request.state]:
        raise AssertionError("the authorization server returned a different state")
    token = TokenClient(profile).exchange_code(
        landed["code"][0], code_verifier=request.code_verifier, redirect_uri=redirect_uri
    )
    if not token.refresh_token:
        raise AssertionError("the authorization server issued no refresh token")
    return token.refresh_token
