"""
CSRF tokens for the OAuth profiles page, and the server side of the authorization ``state``.

**CSRF.** A signed double-submit token bound to the signed-in user: the page sets a random per-browser
nonce in an HttpOnly, ``SameSite=Strict`` cookie scoped to the plugin's path, and every form carries
``HMAC(key, nonce, user id)``. A state-changing POST passes only when the form token matches the cookie
*and* the user the request is authenticated as. Another site can neither read the cookie nor compute the
token (the key is derived from the api-server's ``[api] secret_key``).

**State.** Pressing Authorize creates a :class:`PendingAuthorization` (connection, Airflow user, PKCE
verifier, redirect URI) and stores it server-side in the Airflow metadata database, as a Variable named
``oauth_connector__pending_authorization__<sha256(state)>``. Only the random ``state`` travels through the
browser; the verifier never does. The record is encrypted with a key derived from ``[api] secret_key``
(on top of Airflow's own Fernet encryption of Variables; the name contains "authorization", so the UI masks
it too); its Fernet timestamp makes it expire (10 minutes). The callback consumes it with a single atomic
``DELETE`` (so it is single-use across api-server workers and replicas, which all share the database), only
for the user who started it. A used state leaves a small tombstone so that a replay gets a precise message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from cryptography.fernet import Fernet, InvalidToken

from airflow_oauth_connector import config
from airflow_oauth_connector.exceptions import PluginSecurityError, StateError

CSRF_COOKIE = "oauth_connector_csrf"
CSRF_FIELD = "csrf_token"
STATE_TTL = 600.0
"""Seconds a person has to finish an authorization at the provider."""
TOMBSTONE_TTL = 3600.0
VARIABLE_PREFIX = "oauth_connector__pending_authorization__"
_USED = "used__"
_MAX_STATE = 512
RETURN_TO = ("native",)
"""Where a callback may send the person back to (an allowlist: never a URL from the request)."""
OUTCOME_TTL = 600.0
_MAX_OUTCOME = 4096


def server_secret() -> bytes:
    """The api-server's ``[api] secret_key`` (shared by all its workers), as bytes."""
    value = config.api_secret_key()
    if not value:
        raise PluginSecurityError(
            "[api] secret_key is not set: the OAuth profiles page needs it to sign its forms and state"
        )
    return value.encode("utf-8")


def derive_key(secret: bytes, purpose: str) -> bytes:
    """A 32-byte key for one purpose, derived from ``secret`` (so the purposes never share a key)."""
    return hmac.new(secret, f"airflow-oauth-connector/{purpose}".encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


# ------------------------------------------------------------------------------------------------- CSRF
class CsrfProtector:
    """Issues and checks the signed double-submit tokens described in the module docstring."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def from_secret(cls, secret: bytes) -> CsrfProtector:
        return cls(derive_key(secret, "csrf"))

    @staticmethod
    def new_nonce() -> str:
        return secrets.token_urlsafe(32)

    def token_for(self, nonce: str, user_id: str) -> str:
        message = f"{nonce}\n{user_id}".encode()
        return _b64(hmac.new(self._key, message, hashlib.sha256).digest())

    def verify(self, nonce: str | None, user_id: str, token: str | None) -> bool:
        if not nonce or not token or len(nonce) > 256 or len(token) > 256:
            return False
        return hmac.compare_digest(self.token_for(nonce, user_id), token)


# ---------------------------------------------------------------------------------------------- state


@dataclass(frozen=True)
class PendingAuthorization:
    """What the callback needs to finish one authorization; never sent to the browser."""

    conn_id: str
    user_id: str
    redirect_uri: str
    code_verifier: str | None = field(default=None, repr=False)
    nonce: str | None = field(default=None, repr=False)
    """The OpenID Connect nonce the request sent (the ID Token must carry it back)."""
    created_at: float = 0.0
    return_to: str | None = None
    """Where the callback sends the person afterwards: ``"native"`` (the page inside Airflow's UI) or ``None``
    (the server-rendered result page)."""


class StateBackend(Protocol):
    """Where pending authorizations are kept (the metadata database in the api-server)."""

    def put(self, name: str, value: str, description: str) -> None: ...

    def get(self, name: str) -> str | None: ...

    def delete(self, name: str) -> bool:
        """Remove ``name``; ``True`` only for the one caller that actually removed it."""
        ...

    def names(self, prefix: str) -> list[str]: ...


class VariableStateBackend:
    """Pending authorizations as Airflow Variables, through the ORM (api-server: metadata-DB access)."""

    def put(self, name: str, value: str, description: str) -> None:
        from airflow.models import Variable
        from airflow.utils.session import create_session
        from sqlalchemy import delete

        with create_session() as session:
            session.execute(delete(Variable).where(Variable.key == name))
            session.add(Variable(key=name, val=value, description=description))  # type: ignore[no-untyped-call]

    def get(self, name: str) -> str | None:
        from airflow.models import Variable
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            variable = session.scalar(select(Variable).where(Variable.key == name))
            if variable is None:
                return None
            value = variable.val
            return None if value is None else str(value)

    def delete(self, name: str) -> bool:
        from airflow.models import Variable
        from airflow.utils.session import create_session
        from sqlalchemy import delete

        with create_session() as session:
            result: Any = session.execute(delete(Variable).where(Variable.key == name))
            return bool(result.rowcount == 1)

    def names(self, prefix: str) -> list[str]:
        from airflow.models import Variable
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            rows = session.scalars(select(Variable.key).where(Variable.key.startswith(prefix, autoescape=True)))
            return [str(row) for row in rows]


class MemoryStateBackend:
    """In-process backend (unit tests; a single-process server)."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def put(self, name: str, value: str, description: str) -> None:
        self.values[name] = value

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def delete(self, name: str) -> bool:
        return self.values.pop(name, None) is not None

    def names(self, prefix: str) -> list[str]:
        return [name for name in self.values if name.startswith(prefix)]


class PendingAuthorizations:
    """Creates and consumes the single-use, expiring, user-bound ``state`` of authorization requests."""

    def __init__(
        self,
        key: bytes,
        backend: StateBackend,
        *,
        ttl: float = STATE_TTL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(key))
        self.backend = backend
        self.ttl = ttl
        self._clock = clock

    @classmethod
    def from_secret(cls, secret: bytes, backend: StateBackend | None = None) -> PendingAuthorizations:
        return cls(derive_key(secret, "state"), backend or VariableStateBackend())

    @staticmethod
    def variable_name(state: str) -> str:
        return VARIABLE_PREFIX + hashlib.sha256(state.encode("utf-8")).hexdigest()[:40]

    @staticmethod
    def new_state() -> str:
        return secrets.token_urlsafe(32)

    def create(
        self,
        conn_id: str,
        user_id: str,
        *,
        redirect_uri: str,
        code_verifier: str | None,
        nonce: str | None = None,
        state: str | None = None,
        return_to: str | None = None,
    ) -> str:
        """Store a pending authorization under ``state`` (default: a new random one) and return the state."""
        self.purge_expired()
        state = state or self.new_state()
        if len(state) < 16 or len(state) > _MAX_STATE:
            raise ValueError("a state must have 16 to 512 characters")
        name = self.variable_name(state)
        record = {
            "v": 1,
            "n": name,
            "c": conn_id,
            "u": user_id,
            "r": redirect_uri,
            "p": code_verifier,
            "o": nonce,
            "t": return_to,
        }
        token = self._fernet.encrypt_at_time(json.dumps(record).encode("utf-8"), int(self._clock()))
        self.backend.put(
            name,
            token.decode("ascii"),
            f"Pending OAuth authorization of connection {conn_id!r} (single use, expires "
            f"{self.ttl / 60:.0f} min after creation; removed by the OAuth profiles page).",
        )
        return state

    def take(self, state: str | None, user_id: str) -> PendingAuthorization:
        """Consume the pending authorization of ``state`` for ``user_id``; :class:`StateError` otherwise."""
        if not state:
            raise StateError("missing")
        if len(state) > _MAX_STATE:
            raise StateError("unknown")
        name = self.variable_name(state)
        raw = self.backend.get(name)
        if raw is None:
            used = self.backend.get(self._tombstone(name))
            raise StateError("used" if used is not None else "unknown")
        try:
            created = self._fernet.extract_timestamp(raw.encode("ascii"))
            record = json.loads(self._fernet.decrypt(raw.encode("ascii")))
        except (InvalidToken, ValueError, UnicodeEncodeError):
            self.backend.delete(name)
            raise StateError("unknown") from None
        if not isinstance(record, dict) or record.get("n") != name:
            self.backend.delete(name)
            raise StateError("unknown")
        if record.get("u") != user_id:
            raise StateError("other_user")  # left in place: its owner may still finish it
        if not self.backend.delete(name):
            raise StateError("used")  # a concurrent callback consumed it first
        now = self._clock()
        self.backend.put(
            self._tombstone(name),
            self._fernet.encrypt_at_time(b"{}", int(now)).decode("ascii"),
            "Used OAuth authorization request (kept for an hour to recognise replays).",
        )
        if now - created > self.ttl:
            raise StateError("expired", ttl=STATE_TTL)
        return PendingAuthorization(
            conn_id=str(record.get("c")),
            user_id=user_id,
            redirect_uri=str(record.get("r")),
            code_verifier=record.get("p") or None,
            nonce=record.get("o") or None,
            created_at=float(created),
            return_to=record.get("t") if record.get("t") in RETURN_TO else None,
        )

    def purge_expired(self) -> int:
        """Delete expired pending records and old tombstones; returns how many were removed."""
        now = self._clock()
        removed = 0
        for name in self.backend.names(VARIABLE_PREFIX):
            limit = TOMBSTONE_TTL if name.startswith(VARIABLE_PREFIX + _USED) else self.ttl
            raw = self.backend.get(name)
            try:
                created = self._fernet.extract_timestamp(raw.encode("ascii")) if raw else None
            except (InvalidToken, UnicodeEncodeError):
                created = None
            if (created is None or now - created > limit) and self.backend.delete(name):
                removed += 1
        return removed

    @staticmethod
    def _tombstone(name: str) -> str:
        return VARIABLE_PREFIX + _USED + name.removeprefix(VARIABLE_PREFIX)


# ------------------------------------------------------------------------------------- callback outcome
class OutcomeSigner:
    """
    Signs what the callback tells the person (success or error notice) for the native page, which shows it
    after the callback's redirect. The notice travels in the redirect's query as a signed, expiring token
    bound to the user, so nobody can make the page display a message the plugin did not write.
    """

    def __init__(self, key: bytes, *, ttl: float = OUTCOME_TTL, clock: Callable[[], float] = time.time) -> None:
        self._key = key
        self.ttl = ttl
        self._clock = clock

    @classmethod
    def from_secret(cls, secret: bytes) -> OutcomeSigner:
        return cls(derive_key(secret, "outcome"))

    def sign(self, notice: dict[str, str], user_id: str) -> str:
        body = _b64(json.dumps({"n": notice, "u": user_id, "t": int(self._clock())}).encode("utf-8"))
        return f"{body}.{self._mac(body)}"

    def verify(self, token: str | None, user_id: str) -> dict[str, str] | None:
        """The notice of a valid, fresh token signed for ``user_id``; ``None`` otherwise."""
        if not token or len(token) > _MAX_OUTCOME or token.count(".") != 1:
            return None
        body, mac = token.split(".")
        if not hmac.compare_digest(self._mac(body), mac):
            return None
        try:
            record = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(record, dict) or record.get("u") != user_id or not isinstance(record.get("n"), dict):
            return None
        if self._clock() - float(record.get("t", 0)) > self.ttl:
            return None
        return {str(k): str(v) for k, v in record["n"].items()}

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest())
