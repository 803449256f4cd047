"""Where authorization-server metadata is looked for (RFC 8414 section 3, OpenID Connect Discovery)."""

from __future__ import annotations

import pytest

from airflow_oauth_connector.discovery import metadata_urls


@pytest.mark.parametrize("issuer", ["https://auth.example.com", "https://auth.example.com/"])
def test_issuer_without_path(issuer):
    assert metadata_urls(issuer) == [
        "https://auth.example.com/.well-known/oauth-authorization-server",
        "https://auth.example.com/.well-known/openid-configuration",
    ]


@pytest.mark.parametrize("issuer", ["https://auth.example.com/realms/acme", "https://auth.example.com/realms/acme/"])
def test_issuer_with_path(issuer):
    assert metadata_urls(issuer) == [
        "https://auth.example.com/.well-known/oauth-authorization-server/realms/acme",
        "https://auth.example.com/realms/acme/.well-known/openid-configuration",
        "https://auth.example.com/.well-known/openid-configuration/realms/acme",
        "https://auth.example.com/realms/acme/.well-known/oauth-authorization-server",
    ]


def test_port_kept():
    urls = metadata_urls("http://127.0.0.1:8000/o")
    assert urls[0] == "http://127.0.0.1:8000/.well-known/oauth-authorization-server/o"
    assert all(url.startswith("http://127.0.0.1:8000/") for url in urls)
    assert len(urls) == len(set(urls)) == 4


def test_an_unreachable_issuer_names_the_connection_and_the_issuer_field():
    import socket

    import requests

    from airflow_oauth_connector.discovery import resolve_endpoints
    from airflow_oauth_connector.exceptions import EndpointUnreachableError
    from tests.support.builders import make_profile

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    profile = make_profile(with_access_url=False, issuer_url=f"http://127.0.0.1:{port}", retry_max_attempts=1)
    with pytest.raises(EndpointUnreachableError) as info:
        resolve_endpoints(profile, requests.Session())
    assert str(info.value).startswith(
        f"Connection 'my_api' could not reach its issuer's metadata at http://127.0.0.1:{port}/.well-known/"
    )
    assert str(info.value).endswith(
        "Check the Issuer URL field (issuer_url) and that the server is reachable from the worker"
    )
