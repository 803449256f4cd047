"""JWT material from connection fields and files: signing keys checked against their algorithm, JWT files read fresh.

A PEM private key may be encrypted with a passphrase (PKCS#8 ``ENCRYPTED PRIVATE KEY``, or a traditional
``Proc-Type: 4,ENCRYPTED`` key); it is decrypted with cryptography. Messages name what is wrong and never quote
key material, passphrases or token contents.
"""

from __future__ import annotations

import base64
import functools
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey, import_key

from airflow_oauth_connector.exceptions import JwtMaterialError, KeyPassphraseError

SigningKey = RSAKey | ECKey | OKPKey

#: JWS algorithms for asymmetric client assertions (RFC 7518 3.1 / RFC 8037), with the key each needs.
ASYMMETRIC_ALGS: Mapping[str, tuple[str, str | None]] = {
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
    "RS512": ("RSA", None),
    "PS256": ("RSA", None),
    "PS384": ("RSA", None),
    "PS512": ("RSA", None),
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "ES512": ("EC", "P-521"),
    "EdDSA": ("OKP", "Ed25519"),
    "Ed25519": ("OKP", "Ed25519"),
}
HMAC_ALGS = ("HS256", "HS384", "HS512")
_MIN_RSA_BITS = 2048
MAX_JWT_FILE_BYTES = 64 * 1024


def load_signing_key(text: str, alg: str, passphrase: str | None = None) -> tuple[SigningKey, str | None]:
    """
    The private key in ``text`` (PEM, or a JWK as JSON) for signing with ``alg``, and the JWK's ``kid`` if any.

    ``passphrase`` decrypts an encrypted PEM key (it is not needed, and ignored, for an unencrypted one).
    Raises :class:`JwtMaterialError` when the text is not a private key, or not one ``alg`` can use, and
    :class:`KeyPassphraseError` when an encrypted key has no passphrase or the passphrase does not decrypt it.
    """
    if alg not in ASYMMETRIC_ALGS:
        expected = ", ".join(ASYMMETRIC_ALGS)
        raise JwtMaterialError(f"unsupported signing algorithm {alg[:20]!r}; expected one of {expected}")
    kty, curve = ASYMMETRIC_ALGS[alg]
    stripped = text.strip()
    kid: str | None = None
    try:
        if stripped.startswith("{"):
            data = json.loads(stripped)
            if not isinstance(data, dict):
                raise JwtMaterialError("is not a JWK (expected a JSON object)")
            kid = data.get("kid") if isinstance(data.get("kid"), str) else None
            key: Any = import_key(data)
        elif "-----BEGIN" in stripped:
            kty_of_pem, private = _pem_private_key(stripped, passphrase)
            key = _PEM_IMPORTERS[kty_of_pem].import_key(private)
        else:
            raise JwtMaterialError("is neither a PEM private key nor a JWK (JSON object)")
    except JwtMaterialError:
        raise
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise JwtMaterialError(f"could not be parsed as a private key ({type(exc).__name__})") from None
    if not isinstance(key, (RSAKey, ECKey, OKPKey)):
        raise JwtMaterialError(f"is a symmetric key; {alg} needs an {kty} private key")
    if not key.is_private:
        raise JwtMaterialError("is a public key; the private key is needed to sign client assertions")
    if key.key_type != kty:
        raise JwtMaterialError(f"is an {key.key_type} key, but signing_alg {alg} needs an {kty} key")
    if curve and key.as_dict(private=False).get("crv") != curve:
        raise JwtMaterialError(f"is on curve {key.as_dict(private=False).get('crv')}, but {alg} needs {curve}")
    if isinstance(key, RSAKey) and _rsa_bits(key) < _MIN_RSA_BITS:
        raise JwtMaterialError(f"is an RSA key shorter than {_MIN_RSA_BITS} bits")
    return key, kid


_PEM_IMPORTERS: Mapping[str, type[RSAKey] | type[ECKey] | type[OKPKey]] = {"RSA": RSAKey, "EC": ECKey, "OKP": OKPKey}


def is_encrypted_pem(pem: str) -> bool:
    """Whether ``pem`` holds an encrypted private key: PKCS#8 ``ENCRYPTED PRIVATE KEY`` or traditional PEM."""
    return "-----BEGIN ENCRYPTED PRIVATE KEY-----" in pem or "Proc-Type: 4,ENCRYPTED" in pem


@functools.lru_cache(maxsize=64)
def _pem_private_key(pem: str, passphrase: str | None) -> tuple[str, Any]:
    """
    The JWK key type of a PEM private key and the key (parsed, and decrypted, with cryptography).

    Kept for the process (a refusal is not): cryptography checks an RSA key as it loads it, ~40 ms, and a
    connection's profile is parsed by every hook and by the OAuth profiles page.
    """
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    encrypted = is_encrypted_pem(pem)
    if encrypted and not passphrase:
        raise KeyPassphraseError("the private key is encrypted: its passphrase is required")
    password = passphrase.encode() if encrypted and passphrase else None
    try:
        private = load_pem_private_key(pem.encode(), password=password)
    except TypeError:  # encrypted in a way the markers above do not show
        raise KeyPassphraseError("the private key is encrypted: its passphrase is required") from None
    except UnsupportedAlgorithm:
        raise JwtMaterialError("is encrypted with a cipher this system cannot decrypt") from None
    except ValueError:
        if encrypted:
            raise KeyPassphraseError("could not decrypt the private key with the passphrase") from None
        if "PUBLIC KEY" in pem or "CERTIFICATE" in pem:
            raise JwtMaterialError("is a public key or certificate; the private key is needed") from None
        raise JwtMaterialError("could not be parsed as a PEM private key") from None
    if isinstance(private, rsa.RSAPrivateKey):
        return "RSA", private
    if isinstance(private, ec.EllipticCurvePrivateKey):
        return "EC", private
    if isinstance(private, ed25519.Ed25519PrivateKey):
        return "OKP", private
    raise JwtMaterialError(f"is a {type(private).__name__}; expected an RSA, EC or Ed25519 private key")


def _rsa_bits(key: RSAKey) -> int:
    n = key.as_dict(private=False)["n"]
    return len(_b64decode(str(n))) * 8


def check_hmac_secret(secret: str, alg: str) -> None:
    """``client_secret_jwt`` needs an HMAC algorithm and a secret at least as long as the hash (RFC 7518 3.2)."""
    if alg not in HMAC_ALGS:
        expected = ", ".join(HMAC_ALGS)
        raise JwtMaterialError(f"client_secret_jwt signs with HMAC; expected one of {expected}, not {alg[:20]!r}")
    if len(secret.encode()) * 8 < int(alg[2:]):
        raise JwtMaterialError(f"is shorter than {int(alg[2:]) // 8} bytes, too short for {alg} (RFC 7518 3.2)")


def read_jwt_file(path: str, *, now: float | None = None) -> str:
    """
    A JWT read from ``path`` now (such files rotate): one compact JWS, not expired.

    Raises :class:`JwtMaterialError` saying what is wrong with the file, never what it holds.
    """
    try:
        with Path(path).open("rb") as handle:
            raw = handle.read(MAX_JWT_FILE_BYTES + 1)
    except FileNotFoundError:
        raise JwtMaterialError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise JwtMaterialError(f"{path}: is a directory, expected a file holding a JWT") from None
    except OSError as exc:
        raise JwtMaterialError(f"{path}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    if len(raw) > MAX_JWT_FILE_BYTES:
        raise JwtMaterialError(f"{path}: larger than {MAX_JWT_FILE_BYTES // 1024} KiB, not a JWT")
    text = raw.decode("ascii", errors="replace").strip()
    if not text:
        raise JwtMaterialError(f"{path}: the file is empty")
    claims = _unverified_claims(text)
    if claims is None:
        raise JwtMaterialError(f"{path}: does not hold a JWT (expected header.payload.signature)")
    exp = claims.get("exp")
    if isinstance(exp, (int, float)) and not isinstance(exp, bool) and exp <= (time.time() if now is None else now):
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(exp))
        raise JwtMaterialError(f"{path}: the JWT in it expired at {when}")
    return text


def _unverified_claims(text: str) -> dict[str, Any] | None:
    """The claims of a compact JWS, unverified (the server verifies it); ``None`` if it is not one."""
    parts = text.split(".")
    if len(parts) != 3 or not all(parts[:2]):
        return None
    try:
        header = json.loads(_b64decode(parts[0]))
        claims = json.loads(_b64decode(parts[1]))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(header, dict) or "alg" not in header or not isinstance(claims, dict):
        return None
    return claims


def _b64decode(segment: str) -> bytes:
    if not segment or any(ch not in _B64URL for ch in segment):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
