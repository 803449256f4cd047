"""Start the oidc-provider test authorization server and its DPoP-validating API (Node.js) on loopback.

:func:`start_oidc_server` installs the npm package (``npm ci``, cached in ``node_modules`` beside it), generates
the keys (provider signing keys, the clients' private keys, a "workload issuer" key), writes the client
registrations and runs ``node server.mjs``. The returned :class:`OidcServer` holds the private halves the tests
sign with, and reads the server's counters.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

HERE = Path(__file__).resolve().parent
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
WORKLOAD_ISSUER = "https://workload-issuer.test"
REDIRECT_URI = "http://127.0.0.1:8765/callback"


class OidcServerError(RuntimeError):
    """The server could not be installed or started."""


def node_missing() -> str | None:
    """Why the server cannot run here (``None`` when it can)."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (the oidc-provider test server needs Node.js 20 and npm)"
    return None


def install() -> None:
    """``npm ci`` once: re-run only when package-lock.json changes."""
    stamp = HERE / "node_modules" / ".installed"
    lock = (HERE / "package-lock.json").read_bytes()
    if stamp.exists() and stamp.read_bytes() == lock:
        return
    result = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise OidcServerError(f"npm ci failed in {HERE}: {result.stderr[-2000:]}")
    stamp.write_bytes(lock)


@dataclass
class OidcServer:
    """A running server: URLs, client registrations and the private keys that go with them."""

    issuer: str
    par_issuer: str
    api: str
    resource: str
    clients: dict[str, dict[str, Any]]
    keys: dict[str, Any] = field(repr=False)
    process: subprocess.Popen[bytes] = field(repr=False)
    log_path: Path

    @property
    def token_url(self) -> str:
        return f"{self.issuer}/token"

    def client(self, name: str) -> dict[str, Any]:
        return self.clients[name]

    def stats(self) -> dict[str, Any]:
        response = requests.get(f"{self.issuer}/_test/stats", timeout=10)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def reset(self) -> None:
        requests.post(f"{self.issuer}/_test/reset", timeout=10).raise_for_status()

    def rotate_api_nonce(self) -> None:
        requests.get(f"{self.api}/_test/rotate_nonce", timeout=10).raise_for_status()

    def workload_token(self, *, audience: str | None = None, lifetime: int = 600, **claims: Any) -> str:
        """A JWT from the workload issuer (as a projected service-account token would be), for token exchange."""
        now = int(time.time())
        payload = {
            "iss": WORKLOAD_ISSUER,
            "sub": "system:serviceaccount:data:airflow-worker",
            "aud": audience or self.issuer,
            "iat": now,
            "exp": now + lifetime,
            "jti": uuid.uuid4().hex,
            **claims,
        }
        return jwt.encode({"alg": "RS256", "kid": "workload"}, payload, self.keys["workload"])

    def federated_assertion(self, client: str = "federated", *, lifetime: int = 600) -> str:
        """A client assertion minted by the workload issuer for ``client`` (iss = sub = client_id)."""
        now = int(time.time())
        client_id = self.clients[client]["client_id"]
        payload = {
            "iss": client_id,
            "sub": client_id,
            "aud": self.token_url,
            "iat": now,
            "exp": now + lifetime,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode({"alg": "RS256", "kid": "workload"}, payload, self.keys["workload"])

    def follow_authorization(self, url: str) -> dict[str, str]:
        """Follow the authorization URL like a browser (consent is scripted); the callback's query parameters."""
        session = requests.Session()
        for _ in range(10):
            response = session.get(url, allow_redirects=False, timeout=10)
            location = response.headers.get("Location")
            if response.status_code not in (302, 303) or not location:
                raise OidcServerError(f"authorization stopped at HTTP {response.status_code}: {response.text[:300]}")
            url = requests.compat.urljoin(url, location)
            if url.startswith(REDIRECT_URI):
                return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        raise OidcServerError("authorization did not reach the redirect URI")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def private_pem(key: RSAKey | ECKey) -> str:
    """The PEM (PKCS#8) of a generated private key, as a user pastes it into the Client secret field."""
    from cryptography.hazmat.primitives import serialization

    return key.private_key.private_bytes(  # type: ignore[union-attr]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _public(key: RSAKey | ECKey, kid: str, alg: str) -> dict[str, Any]:
    return {**key.as_dict(private=False), "kid": kid, "alg": alg, "use": "sig"}


def start_oidc_server(data_dir: Path, *, access_token_ttl: int = 300, timeout: float = 30.0) -> OidcServer:
    missing = node_missing()
    if missing:
        raise OidcServerError(missing)
    install()
    keys: dict[str, Any] = {
        "provider_rs": RSAKey.generate_key(2048, private=True),
        "provider_es": ECKey.generate_key("P-256", private=True),
        "pkjwt_rs": RSAKey.generate_key(2048, private=True),
        "pkjwt_es": ECKey.generate_key("P-256", private=True),
        "workload": RSAKey.generate_key(2048, private=True),
    }
    secret = lambda: uuid.uuid4().hex + uuid.uuid4().hex  # noqa: E731 - 64 hex characters, enough for HS256
    base = {"redirect_uris": [], "response_types": [], "grant_types": ["client_credentials"], "scope": "api:read"}
    web = {
        "redirect_uris": [REDIRECT_URI],
        "response_types": ["code"],
        "grant_types": ["authorization_code", "refresh_token"],
        "scope": "openid offline_access api:read",
    }
    clients: dict[str, dict[str, Any]] = {
        "basic": {**base, "client_id": "cc-basic", "client_secret": secret()},
        "pkjwt_rs": {
            **base,
            "client_id": "cc-pkjwt-rs",
            "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_signing_alg": "RS256",
            "jwks": {"keys": [_public(keys["pkjwt_rs"], "rs-1", "RS256")]},
        },
        "pkjwt_es": {
            **base,
            "client_id": "cc-pkjwt-es",
            "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_signing_alg": "ES256",
            "jwks": {"keys": [_public(keys["pkjwt_es"], "es-1", "ES256")]},
        },
        "secretjwt": {
            **base,
            "client_id": "cc-secret-jwt",
            "client_secret": secret(),
            "token_endpoint_auth_method": "client_secret_jwt",
            "token_endpoint_auth_signing_alg": "HS256",
        },
        "federated": {
            **base,
            "client_id": "cc-federated",
            "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_signing_alg": "RS256",
            "jwks": {"keys": [_public(keys["workload"], "workload", "RS256")]},
        },
        "exchanger": {**base, "client_id": "exchanger", "client_secret": secret(), "grant_types": [TOKEN_EXCHANGE]},
        "exchanger_jwt": {
            **base,
            "client_id": "exchanger-jwt",
            "grant_types": [TOKEN_EXCHANGE],
            "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_signing_alg": "RS256",
            "jwks": {"keys": [_public(keys["pkjwt_rs"], "rs-1", "RS256")]},
        },
        "web": {**web, "client_id": "web", "client_secret": secret()},
        # A public client: oidc-provider binds its refresh tokens to the DPoP key of the code exchange (RFC 9449
        # section 5), so a refresh proved with any other key is refused ("failed jkt verification").
        "web_public": {**web, "client_id": "web-public", "token_endpoint_auth_method": "none"},
        "web_par": {
            **web,
            "client_id": "web-par",
            "client_secret": secret(),
            "require_pushed_authorization_requests": True,
        },
        "web_jwt": {
            **web,
            "client_id": "web-jwt",
            "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_signing_alg": "ES256",
            "jwks": {"keys": [_public(keys["pkjwt_es"], "es-1", "ES256")]},
        },
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    config_path = data_dir / "oidc-config.json"
    config = {
        "clients": list(clients.values()),
        "provider_jwks": {
            "keys": [
                {**keys["provider_rs"].as_dict(private=True), "kid": "op-rs", "alg": "RS256", "use": "sig"},
                {**keys["provider_es"].as_dict(private=True), "kid": "op-es", "alg": "ES256", "use": "sig"},
            ]
        },
        "workload_issuer": WORKLOAD_ISSUER,
        "workload_issuer_jwk": _public(keys["workload"], "workload", "RS256"),
        "access_token_ttl": access_token_ttl,
    }
    config_path.write_text(json.dumps(config))
    os.chmod(config_path, 0o600)
    log_path = data_dir / "oidc-server.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        ["node", str(HERE / "server.mjs"), str(config_path)],
        cwd=HERE,
        stdin=subprocess.PIPE,  # the server exits when the test session (its stdin's writer) goes away
        stdout=subprocess.PIPE,
        stderr=log,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    line = b""
    while time.monotonic() < deadline and process.poll() is None:
        line = process.stdout.readline()
        if line.strip():
            break
    if not line.strip():
        process.kill()
        raise OidcServerError(f"oidc server did not start: {log_path.read_text(errors='replace')[-2000:]}")
    ready = json.loads(line)
    return OidcServer(
        issuer=ready["issuer"],
        par_issuer=ready["par_issuer"],
        api=ready["api"],
        resource=ready["resource"],
        clients=clients,
        keys=keys,
        process=process,
        log_path=log_path,
    )
