"""
Grants: the token-request parameters of each OAuth 2.0 grant, one module per grant.

:mod:`.client_credentials` (RFC 6749 4.4), :mod:`.authorization_code` (4.1, with PKCE S256 and the
authorization request), :mod:`.refresh` (6), :mod:`.device` (RFC 8628 device authorization),
:mod:`.jwt_bearer` (RFC 7523 2.1). The names below are the package's public interface; import a grant's
module for the rest (:mod:`.device` and :mod:`.jwt_bearer` are not imported here: they are loaded on use).
"""

from __future__ import annotations

from airflow_oauth_connector.grants.authorization_code import (
    AuthorizationRequest,
    authorization_code_params,
    build_authorization_request,
)
from airflow_oauth_connector.grants.client_credentials import client_credentials_params
from airflow_oauth_connector.grants.refresh import refresh_token_params

__all__ = [
    "AuthorizationRequest",
    "authorization_code_params",
    "build_authorization_request",
    "client_credentials_params",
    "refresh_token_params",
]
