from __future__ import annotations

import pytest

from airflow_oauth_connector.exceptions import ProfileError
from tests.support.builders import TOKEN_URL, make_client, make_profile
from tests.support.fake_http import FakeTransport, TokenServer


def test_client_certificate_for_mutual_tls():
    assert make_profile().cert is None
    assert make_profile(client_cert="/etc/certs/client.pem").cert == "/etc/certs/client.pem"
    assert make_profile(client_cert="/c.pem", client_key="/k.pem").cert == ("/c.pem", "/k.pem")
    with pytest.raises(ProfileError, match="client_key"):
        make_profile(client_key="/k.pem")


def test_token_requests_carry_the_client_certificate_and_ca_bundle():
    seen = {}

    class Recording(FakeTransport):
        def send(self, request, **kwargs):
            seen.update(kwargs)
            return super().send(request, **kwargs)

    transport = Recording()
    transport.route("POST", TOKEN_URL, TokenServer())
    profile = make_profile(client_cert="/c.pem", client_key="/k.pem", ca_bundle="/etc/ssl/corp.pem")
    make_client(profile, transport).client_credentials()
    assert seen["cert"] == ("/c.pem", "/k.pem")
    assert seen["verify"] == "/etc/ssl/corp.pem"


def test_tls_verification_is_on_by_default_and_can_be_turned_off():
    assert make_profile().verify is True
    assert make_profile(verify_tls=False).verify is False
