"""
Check a connection's settings before they are saved or used: every problem, named by the form's label.

:func:`check_connection` is what the Test button (the hook's ``test_connection``), the native OAuth profiles
page (Add / Edit) and the CLI call; profile loading in a task raises the same problems as a
:class:`~airflow_oauth_connector.exceptions.ConnectionSettingsError` (:func:`settings_error`). The checks are
the profile parser's own (:mod:`airflow_oauth_connector.profile`, run field by field so that every bad
field is reported, not only the first): JSON fields parse and have their shape, URLs are absolute and https
(http only for loopback hosts), enum values are known, the provider preset is known and has its
``provider_params``, and what the grant type requires is there, after the preset filled its fields. No I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from airflow_oauth_connector import profile as _profile
from airflow_oauth_connector.exceptions import ConnectionSettingsError, ProfileError, labelled
from airflow_oauth_connector.fields import FIELDS, GRANT_SHORT_NAMES, FieldSpec, label_for
from airflow_oauth_connector.json_field import MAX_EXTRA_CHARS, json_object
from airflow_oauth_connector.presets import Applied, apply_preset

CONN_TYPE = _profile.CONN_TYPE
_CHECKED_AS = "<connection>"


@dataclass(frozen=True)
class FieldProblem:
    """One bad setting: the field's key (``access_params``, ``access_params.query``), its label, what is wrong."""

    field: str
    label: str
    message: str

    def __str__(self) -> str:
        return labelled(self.field, self.message, self.label)

    def as_dict(self) -> dict[str, str]:
        """JSON-ready, for an API answer."""
        return {"field": self.field, "label": self.label, "message": self.message, "text": str(self)}

    @classmethod
    def of(cls, error: ProfileError) -> FieldProblem:
        return cls(error.field, label_for(error.field), error.problem)


_NOT_CHECKED_ALONE = ("provider", "host", "login", "password")
"""Checked by the preset step or the standard-field checks, not by the per-field pass."""


def check_connection(
    *,
    conn_type: str = CONN_TYPE,
    host: str | None,
    login: str | None,
    password: str | None,
    extra: Mapping[str, Any] | str | None,
    conn_id: str = _CHECKED_AS,
) -> list[FieldProblem]:
    """Every problem of these settings (empty: the profile loader accepts them), in form order."""
    if conn_type != CONN_TYPE:
        return [FieldProblem("conn_type", label_for("conn_type"), f"expected {CONN_TYPE!r}, got {conn_type!r}")]
    own, problem = _extra_object(conn_id, extra)
    if problem is not None:
        return [problem]
    return _problems(conn_id, own, host, login, password, _preset(conn_id, own, host)).in_form_order()


def settings_error(
    error: ProfileError,
    *,
    host: str | None,
    login: str | None,
    password: str | None,
    extra: Mapping[str, Any] | str | None,
    preset: Applied | ProfileError | None = None,
) -> ConnectionSettingsError:
    """
    The profile loader's ``error`` with every other problem of the same settings (``error``'s first).

    ``preset``: what the loader's preset step gave, the settings with the preset laid under them or the error
    it raised (default: the preset is applied here); the settings are not parsed as a whole again.
    """
    first = FieldProblem.of(error)
    own, problem = _extra_object(error.conn_id, extra)
    if problem is not None:
        others = [problem]
    else:
        outcome = _preset(error.conn_id, own, host) if preset is None else preset
        others = _problems(error.conn_id, own, host, login, password, outcome, known=error).in_form_order()
    listed = [first, *(p for p in others if p.field != first.field)]
    return ConnectionSettingsError(error.conn_id, [p.as_dict() for p in listed])


def require_valid(
    conn_id: str,
    *,
    host: str | None,
    login: str | None,
    password: str | None,
    extra: Mapping[str, Any] | str | None,
) -> None:
    """Raise :class:`ConnectionSettingsError` when :func:`check_connection` finds a problem."""
    problems = check_connection(host=host, login=login, password=password, extra=extra, conn_id=conn_id)
    if problems:
        raise ConnectionSettingsError(conn_id, [p.as_dict() for p in problems])


class ConnectionFields(Protocol):
    """The fields of an Airflow connection that are checked (``airflow.models`` or ``airflow.sdk``'s)."""

    @property
    def conn_id(self) -> str: ...
    @property
    def conn_type(self) -> str | None: ...
    @property
    def host(self) -> str | None: ...
    @property
    def login(self) -> str | None: ...
    @property
    def password(self) -> str | None: ...
    @property
    def extra(self) -> str | None: ...


def connection_problems(conn: ConnectionFields) -> list[FieldProblem]:
    """
    :func:`check_connection` of an Airflow connection, as read (the hook's ``settings_problems``, the CLI's
    ``check``); a connection without a type counts as an ``oauth_connector`` one, as the hook reads it so.
    """
    return check_connection(
        conn_type=conn.conn_type or CONN_TYPE,
        host=conn.host,
        login=conn.login,
        password=conn.password,
        extra=conn.extra or None,
        conn_id=conn.conn_id,
    )


# ----------------------------------------------------------------------------------------------- the passes
class _Problems:
    """Problems found so far, at most one per field."""

    def __init__(self) -> None:
        self._by_field: dict[str, FieldProblem] = {}

    def __contains__(self, field: str) -> bool:
        return field in self._by_field

    def __bool__(self) -> bool:
        return bool(self._by_field)

    def append(self, problem: FieldProblem) -> None:
        root = problem.field.split(".", 1)[0]
        if root not in self._by_field:
            self._by_field[root] = problem

    def add(self, error: ProfileError) -> None:
        self.append(FieldProblem.of(error))

    def attempt(self, check: Callable[[], Any]) -> Any:
        """``check()``'s result; ``None`` after recording the :class:`ProfileError` it raised."""
        try:
            return check()
        except ProfileError as exc:
            self.add(exc)
            return None

    def in_form_order(self) -> list[FieldProblem]:
        order = {spec.name: index for index, spec in enumerate(FIELDS)}
        return sorted(self._by_field.values(), key=lambda p: order.get(p.field.split(".", 1)[0], len(order)))


def _extra_object(conn_id: str, extra: Mapping[str, Any] | str | None) -> tuple[Mapping[str, Any], FieldProblem | None]:
    try:
        return json_object(conn_id, "extra", extra, max_chars=MAX_EXTRA_CHARS), None
    except ProfileError as exc:
        return {}, FieldProblem.of(exc)


def _preset(conn_id: str, own: Mapping[str, Any], host: str | None) -> Applied | ProfileError:
    """The settings with their preset laid under them, or the :class:`ProfileError` the preset step raised."""
    try:
        return apply_preset(conn_id, own, host)
    except ProfileError as exc:
        return exc


def _problems(
    conn_id: str,
    own: Mapping[str, Any],
    host: str | None,
    login: str | None,
    password: str | None,
    preset: Applied | ProfileError,
    *,
    known: ProfileError | None = None,
) -> _Problems:
    """
    The checks of :func:`check_connection` once the preset step is done (``preset``: its outcome). ``known``:
    the loader's own error for these settings, when it has parsed them already (then they are not parsed again).
    """
    found = _Problems()
    if isinstance(preset, ProfileError):  # what the preset would give is unknown: nothing counts as missing
        found.add(preset)
        effective, effective_host = own, host
    else:
        effective, effective_host = preset.fields, preset.host
        found.attempt(lambda: _profile.check_base_url(conn_id, effective_host, effective))
    parsed: dict[str, Any] = {}
    for spec in FIELDS:
        if spec.name not in _NOT_CHECKED_ALONE and spec.name not in found:
            check = _profile.field_check(conn_id, effective, spec.name, kind=spec.kind, minimum=spec.minimum or 0)
            parsed[spec.name] = found.attempt(check)
    if isinstance(preset, ProfileError):
        return found
    grant = parsed.get("grant_type") or _profile.GrantType.CLIENT_CREDENTIALS
    for missing in _missing_required(grant.value, effective, effective_host, login, password):
        found.append(missing)
    found.attempt(lambda: _profile.check_secret(conn_id, grant, parsed.get("client_auth"), password))
    if not found and known is None:  # what the field-by-field pass cannot see: keys checked against each other
        found.attempt(lambda: _profile.OAuthProfile.parse_applied(conn_id, preset, login=login, password=password))
    return found


def _missing_required(
    grant: str, extra: Mapping[str, Any], host: str | None, login: str | None, password: str | None
) -> list[FieldProblem]:
    """Fields the grant type requires that are empty after the preset filled its fields (the secret aside)."""
    standard = {"host": host, "login": login, "password": password}
    value = {**extra, **standard}

    def given(name: str) -> bool:
        item = value.get(name)
        return item is not None and (not isinstance(item, str) or bool(item.strip()))

    problems = []
    for spec in FIELDS:
        if grant not in spec.required_for or given(spec.name) or spec.default is not None or spec.name == "password":
            continue
        if spec.name in ("access_url", "authorize_url") and given("issuer_url"):
            continue
        if spec.name == "access_url" and grant == "jwt_bearer":
            continue  # the key file's token_uri or the JWT audience may give it: the profile parse decides
        problems.append(FieldProblem(spec.name, spec.label, _required_message(spec, grant)))
    return problems


def _required_message(spec: FieldSpec, grant: str) -> str:
    every = set(spec.required_for) == set(GRANT_SHORT_NAMES)
    needed = "required" if every else f"required for {GRANT_SHORT_NAMES[grant]}"
    if spec.name in ("access_url", "authorize_url"):
        return f"{needed} (or set Issuer URL for discovery, or pick a provider preset that gives it)"
    return needed
