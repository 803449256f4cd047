"""DPoP (RFC 9449): the token's key pair, proofs for token and API requests, and the servers' nonces."""

from __future__ import annotations

import base64
import hashlib
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from airflow_oauth_connector.exceptions import DPoPError
from airflow_oauth_connector.profile import origin_of

#: The proof's signature algorithm: ECDSA P-256, which every DPoP server supports (RFC 9449 5.1 metadata).
DPOP_ALG = "ES256"
PROOF_TYPE = "dpop+jwt"
NONCE_ERROR = "use_dpop_nonce"


@dataclass(frozen=True)
class DPoPKey:
    """
    A DPoP key pair. It belongs to the token bound to it: it is stored with the token (encrypted like it) so
    every process sharing the token signs with the same key.
    """

    key: ECKey = field(repr=False)

    @classmethod
    def generate(cls) -> DPoPKey:
        return cls(ECKey.generate_key("P-256", private=True))

    @classmethod
    def from_jwk(cls, data: Mapping[str, Any]) -> DPoPKey:
        """The key stored with a token; raises :class:`DPoPError` for a record that holds no usable key."""
        try:
            key = ECKey.import_key(dict(data))
        except (JoseError, ValueError, TypeError, KeyError):
            raise DPoPError("The stored DPoP key of this token is unreadable; the token will be renewed") from None
        if not key.is_private:
            raise DPoPError("The stored DPoP key of this token has no private part; the token will be renewed")
        return cls(key)

    def to_jwk(self) -> dict[str, Any]:
        """The private JWK, for the token store (which encrypts it)."""
        return dict(self.key.as_dict(private=True))

    @property
    def public_jwk(self) -> dict[str, Any]:
        return dict(self.key.as_dict(private=False))

    @property
    def thumbprint(self) -> str:
        """RFC 7638 thumbprint: what the server puts in the token's ``cnf.jkt``."""
        return str(self.key.thumbprint())

    def proof(
        self,
        method: str,
        url: str,
        *,
        access_token: str | None = None,
        nonce: str | None = None,
        now: float | None = None,
    ) -> str:
        """
        A fresh proof (RFC 9449 4.2) for one request: ``htm``, ``htu`` (the URL without query and fragment),
        ``iat``, a new ``jti``, and with an access token its hash ``ath``; ``nonce`` when the server gave one.
        """
        claims: dict[str, Any] = {
            "jti": uuid.uuid4().hex,
            "htm": method.upper(),
            "htu": target_uri(url),
            "iat": int(time.time() if now is None else now),
        }
        if access_token is not None:
            claims["ath"] = access_token_hash(access_token)
        if nonce:
            claims["nonce"] = nonce
        header = {"typ": PROOF_TYPE, "alg": DPOP_ALG, "jwk": self.public_jwk}
        return jwt.encode(header, claims, self.key, algorithms=[DPOP_ALG])


def target_uri(url: str) -> str:
    """``htu``: the request URI without query and fragment (RFC 9449 4.2), scheme and host in lower case."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", "", ""))


def access_token_hash(access_token: str) -> str:
    """``ath``: base64url SHA-256 of the ASCII access token (RFC 9449 4.2)."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class NonceMemory:
    """
    The last ``DPoP-Nonce`` each server (origin) handed out, so the next proof carries it and most requests
    need no extra round trip (RFC 9449 8 and 9). Thread-safe; per process.
    """

    def __init__(self) -> None:
        self._nonces: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, url: str) -> str | None:
        with self._lock:
            return self._nonces.get(_origin(url))

    def remember(self, url: str, headers: Mapping[str, str]) -> str | None:
        """Keep the response's ``DPoP-Nonce`` (if any) for its origin; return it."""
        nonce = headers.get("DPoP-Nonce")
        if nonce and _is_nonce(nonce):
            with self._lock:
                self._nonces[_origin(url)] = nonce
            return nonce
        return None


def _origin(url: str) -> str:
    return origin_of(url)  # scheme://host:port, the default port made explicit


def _is_nonce(value: str) -> bool:
    # RFC 9449 8.1: nonce = 1*NQCHAR (visible ASCII except '"' and '\'); bounded to keep proofs small.
    return 0 < len(value) <= 512 and all(0x21 <= ord(ch) <= 0x7E and ch not in '"\\' for ch in value)


def api_nonce_challenge(status_code: int, headers: Mapping[str, str]) -> bool:
    """A resource server's ``use_dpop_nonce`` challenge: HTTP 401 with ``WWW-Authenticate: DPoP error=...``."""
    if status_code != 401:
        return False
    challenge = headers.get("WWW-Authenticate", "")
    return "dpop" in challenge.lower() and NONCE_ERROR in challenge and bool(headers.get("DPoP-Nonce"))


def token_nonce_challenge(status_code: int, error: str | None, headers: Mapping[str, str]) -> bool:
    """An authorization server's ``use_dpop_nonce`` answer: HTTP 400 ``error=use_dpop_nonce`` (RFC 9449 8)."""
    return status_code == 400 and error == NONCE_ERROR and bool(headers.get("DPoP-Nonce"))


def nonce_loop_error(where: str) -> DPoPError:
    return DPoPError(
        f"The {where} asked for a new DPoP nonce again right after being given the one it asked for; "
        f"stopping (field 'dpop'). Check the server's clock and DPoP nonce configuration"
    )
