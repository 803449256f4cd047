"""RFC 8693 token exchange: the workload's subject token (read from its file at every request) for an access token."""

from __future__ import annotations

from airflow_oauth_connector.exceptions import ClientAssertionError, JwtMaterialError
from airflow_oauth_connector.jwt_material import read_jwt_file
from airflow_oauth_connector.profile import OAuthProfile

TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"


def token_exchange_params(profile: OAuthProfile) -> dict[str, str]:
    """
    RFC 8693 2.1: exchange the workload's subject token, read from its file now (such files rotate).

    Raises :class:`ClientAssertionError` naming ``subject_token_file`` when the file holds no usable JWT.
    """
    path = profile.subject_token_file or ""
    try:
        subject_token = read_jwt_file(path)
    except JwtMaterialError as exc:
        raise ClientAssertionError(profile.conn_id, "subject_token_file", str(exc)) from None
    params = {
        "grant_type": TOKEN_EXCHANGE_GRANT,
        "subject_token": subject_token,
        "subject_token_type": profile.subject_token_type,
    }
    if profile.audience:
        params["audience"] = profile.audience
    if profile.requested_token_type:
        params["requested_token_type"] = profile.requested_token_type
    if profile.scope:
        params["scope"] = profile.scope
    return params
