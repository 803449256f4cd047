"""
Token-store codec: a token or status record to bytes and back, Fernet-encrypted when Airflow has a key.

A stored record is a small JSON document ``{"v": 1, "key": <cache key>, ...}``. When Airflow has a Fernet
key (``[core] fernet_key``, comma-separated for rotation) the JSON is encrypted with
:class:`cryptography.fernet.MultiFernet` exactly as Airflow encrypts connection passwords; without a key
it is stored as plain JSON (the stores still restrict who can read it). Decoding never raises: a record
that is corrupt, truncated, encrypted with another key or for another cache key reads as "nothing".
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from airflow_oauth_connector import config
from airflow_oauth_connector.exceptions import TokenStoreError
from airflow_oauth_connector.status import StatusRecord, status_from_dict, status_to_dict
from airflow_oauth_connector.token import Token

log = logging.getLogger(__name__)

RECORD_VERSION = 1
MAX_RECORD_BYTES = 1024 * 1024


def key_digest(key: str) -> str:
    """A filesystem- and URL-safe name for a cache key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class TokenCodec:
    """
    Turns a token (or a status record) into bytes for a store and back.

    ``TokenCodec.from_config()`` follows Airflow's Fernet key; ``TokenCodec(None)`` stores plain JSON.
    """

    def __init__(self, fernet_key: str | None) -> None:
        self._fernet: MultiFernet | None = None
        self._fingerprint = ""
        if fernet_key:
            try:
                keys = [Fernet(part.strip().encode("utf-8")) for part in fernet_key.split(",") if part.strip()]
            except (ValueError, TypeError):
                raise TokenStoreError(
                    "Airflow's [core] fernet_key is not a valid Fernet key (32 url-safe base64-encoded bytes); "
                    "token stores refuse to save tokens unencrypted when a key is configured"
                ) from None
            self._fernet = MultiFernet(keys)
            self._fingerprint = hashlib.sha256(fernet_key.encode("utf-8")).hexdigest()[:16]

    @classmethod
    def from_config(cls) -> TokenCodec:
        return cls(config.fernet_key())

    @property
    def encrypted(self) -> bool:
        return self._fernet is not None

    @property
    def fingerprint(self) -> str:
        """Identifies the key set (for caching store instances), never the key itself."""
        return self._fingerprint

    def __repr__(self) -> str:
        return f"TokenCodec(encrypted={self.encrypted})"

    # -- records -------------------------------------------------------------------------------------

    def encode_record(self, record: Mapping[str, Any]) -> bytes:
        data = json.dumps(dict(record), separators=(",", ":"), sort_keys=True).encode("utf-8")
        return data if self._fernet is None else self._fernet.encrypt(data)

    def decode_record(self, raw: bytes | str | None, *, what: str) -> dict[str, Any] | None:
        """The record in ``raw``, or ``None`` (with a warning naming ``what``, never the contents)."""
        if raw is None:
            return None
        data = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
        if not data.strip():
            log.warning("Ignoring empty %s", what)
            return None
        if len(data) > MAX_RECORD_BYTES:
            log.warning("Ignoring %s: %d bytes is more than a token record can be", what, len(data))
            return None
        if not data.lstrip().startswith(b"{"):
            if self._fernet is None:
                log.warning("Ignoring %s: it is encrypted but Airflow has no [core] fernet_key configured", what)
                return None
            try:
                data = self._fernet.decrypt(data)
            except InvalidToken:
                log.warning("Ignoring %s: it cannot be decrypted with the configured Fernet key(s)", what)
                return None
        try:
            record = json.loads(data)
        except (ValueError, RecursionError):
            log.warning("Ignoring %s: it is corrupt or truncated", what)
            return None
        if not isinstance(record, dict) or record.get("v") != RECORD_VERSION:
            log.warning("Ignoring %s: unknown record format", what)
            return None
        return record

    # -- tokens --------------------------------------------------------------------------------------

    def encode_token(self, key: str, token: Token, **extra: Any) -> bytes:
        return self.encode_record({"v": RECORD_VERSION, "key": key, "token": token.to_dict(), **extra})

    def decode_token(self, key: str, raw: bytes | str | None, *, what: str) -> tuple[Token, dict[str, Any]] | None:
        """The token and its record, or ``None`` when ``raw`` holds no usable token for ``key``."""
        record = self.decode_record(raw, what=what)
        if record is None:
            return None
        if record.get("key") != key:
            log.warning("Ignoring %s: it belongs to another cache key", what)
            return None
        payload = record.get("token")
        try:
            if not isinstance(payload, Mapping):
                raise TypeError("token is not an object")
            return Token.from_dict(payload), record
        except (KeyError, TypeError, ValueError):
            log.warning("Ignoring %s: the token record is incomplete", what)
            return None

    # -- status records -------------------------------------------------------------------------------

    def encode_status(self, key: str, status: StatusRecord) -> bytes:
        return self.encode_record({"v": RECORD_VERSION, "key": key, "status": status_to_dict(status)})

    def decode_status(self, key: str, raw: bytes | str | None, *, what: str) -> StatusRecord | None:
        """The status record in ``raw`` for ``key``, or ``None`` (records of older versions are read too)."""
        record = self.decode_record(raw, what=what)
        if record is None or record.get("key") != key or not isinstance(record.get("status"), dict):
            return None
        return status_from_dict(record["status"])
