"""Authorization-server metadata discovery (RFC 8414 and OpenID Connect Discovery)."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import requests

from airflow_oauth_connector.exceptions import DiscoveryError, EndpointUnreachableError, ProfileError
from airflow_oauth_connector.profile import OAuthProfile, check_endpoint_url
from airflow_oauth_connector.retry import send_with_retry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Endpoints:
    token_url: str
    authorize_url: str | None = None
    device_url: str | None = None
    revocation_url: str | None = None
    par_url: str | None = None
    """RFC 9126 ``pushed_authorization_request_endpoint``, from the issuer's metadata."""
    require_par: bool = False
    """The metadata's ``require_pushed_authorization_requests``."""
    issuer: str | None = None
    """The metadata's ``issuer`` (an ID Token's ``iss`` must equal it); ``None`` without metadata."""


def metadata_urls(issuer: str) -> list[str]:
    """Where an issuer's metadata may live, most specific first."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    candidates = [
        urlunsplit((parts.scheme, parts.netloc, f"/.well-known/oauth-authorization-server{path}", "", "")),
        f"{issuer.rstrip('/')}/.well-known/openid-configuration",
        urlunsplit((parts.scheme, parts.netloc, f"/.well-known/openid-configuration{path}", "", "")),
        f"{issuer.rstrip('/')}/.well-known/oauth-authorization-server",
    ]
    return list(dict.fromkeys(candidates))


def resolve_endpoints(profile: OAuthProfile, session: requests.Session) -> Endpoints:
    """The profile's endpoints; URLs the profile leaves out come from the issuer's metadata."""
    if profile.access_url and (profile.authorize_url or not profile.issuer_url) and not _wants_par_metadata(profile):
        return Endpoints(token_url=profile.access_url, authorize_url=profile.authorize_url)
    assert profile.issuer_url is not None
    metadata = fetch_metadata(profile, session)

    def endpoint(key: str, explicit: str | None) -> str | None:
        if explicit:
            return explicit
        value = metadata.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise DiscoveryError(f"Issuer metadata of {profile.issuer_url}: {key!r} is not a URL")
        try:
            return check_endpoint_url(profile.conn_id, key, value, profile.allow_insecure_http)
        except ProfileError as exc:
            raise DiscoveryError(f"Issuer metadata of {profile.issuer_url}: {exc.problem} ({key})") from None

    token_url = endpoint("token_endpoint", profile.access_url)
    if token_url is None:
        raise DiscoveryError(f"Issuer metadata of {profile.issuer_url} has no token_endpoint")
    return Endpoints(
        token_url=token_url,
        authorize_url=endpoint("authorization_endpoint", profile.authorize_url),
        device_url=endpoint("device_authorization_endpoint", None),
        revocation_url=endpoint("revocation_endpoint", None),
        par_url=endpoint("pushed_authorization_request_endpoint", None),
        require_par=metadata.get("require_pushed_authorization_requests") is True,
        issuer=_text(metadata.get("issuer")),
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _wants_par_metadata(profile: OAuthProfile) -> bool:
    """An authorization-code profile with an issuer reads its metadata: it may require PAR (RFC 9126 5)."""
    return bool(profile.issuer_url) and profile.grant_type.needs_person


def fetch_metadata(profile: OAuthProfile, session: requests.Session) -> dict[str, object]:
    assert profile.issuer_url is not None
    tried: list[str] = []
    for url in metadata_urls(profile.issuer_url):
        try:
            response = send_with_retry(
                functools.partial(
                    session.get,
                    url,
                    timeout=profile.timeout,
                    verify=profile.verify,
                    cert=profile.cert,
                    headers={"Accept": "application/json"},
                ),
                profile.retry,
                method="GET",
                url=url,
            )
        except EndpointUnreachableError as exc:
            raise exc.located(
                profile.conn_id, field="Issuer URL field (issuer_url)", what="its issuer's metadata at"
            ) from None
        tried.append(f"{url} (HTTP {response.status_code})")
        if response.status_code != 200:
            continue
        try:
            document = response.json()
        except ValueError:
            continue
        if isinstance(document, dict):
            log.info("Discovered authorization server metadata at %s", url)
            return document
    raise DiscoveryError(
        f"No authorization server metadata found for issuer {profile.issuer_url}; tried " + ", ".join(tried)
    )
