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
