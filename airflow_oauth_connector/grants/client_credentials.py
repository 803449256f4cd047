"""Client credentials grant (RFC 6749 section 4.4): the token request's form parameters."""

from __future__ import annotations

from airflow_oauth_connector.profile import OAuthProfile


def client_credentials_params(profile: OAuthProfile) -> dict[str, str]:
    params = {"grant_type": "client_credentials"}
    if profile.scope:
        params["scope"] = profile.scope
    return params
