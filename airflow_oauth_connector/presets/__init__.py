"""
Provider presets: load the declarative provider files and lay one under a connection's own fields.

The files are read while Airflow configures itself (the provider dropdown's labels, through
``get_provider_info``): this module imports no Airflow at the top, hence neither the exceptions module.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType
from typing import Any, NamedTuple

CUSTOM = "custom"
"""The ``provider`` value of a connection that uses no preset."""

#: Fields whose values a preset and the connection combine instead of one replacing the other.
_MERGED_MAPPINGS = ("authorize_params", "api_headers", "grant_params", "response_map", "capture_response", "error_map")
#: Fields of nested objects that combine at every level (``access_params``: part by part, section by section).
_MERGED_NESTED = ("access_params",)
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SLUG = re.compile(r"^[a-z0-9_]+$")


@dataclass(frozen=True)
class ProviderParam:
    """One ``provider_params`` key a preset reads."""

    name: str
    description: str
    default: str | None = None
    choices: tuple[str, ...] = ()
    pattern: str = r"^[A-Za-z0-9._-]+$"
    derive: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Further placeholders whose value follows from this one (Amazon: region -> Seller Central host)."""


@dataclass(frozen=True)
class Preset:
    """One provider's settings, as data (``presets/<slug>.yaml``)."""

    slug: str
    name: str
    fields: Mapping[str, Any]
    params: Mapping[str, ProviderParam]
    grant_fields: Mapping[str, Mapping[str, Any]]
    """Fields that apply only when the connection's grant type is the key (``client_credentials``)."""
    param_fields: Mapping[str, Mapping[str, Any]]
    """Fields that apply only when the provider parameter named by the key is given (Slack's user_scope)."""
    scope_extra: Mapping[str, str]
    """Scopes added to the user's own for a grant type (``offline_access`` for a refresh token)."""
    raw: Mapping[str, Any]


class Applied(NamedTuple):
    """A connection's fields with its preset laid under them (:func:`apply_preset`)."""

    provider: str
    """The preset's slug (``custom``: none)."""
    fields: Mapping[str, Any]
    host: str | None


def preset_names() -> list[str]:
    """Every preset slug, sorted (no file is parsed)."""
    folder = resources.files(__name__)
    return sorted(entry.name[:-5] for entry in folder.iterdir() if entry.name.endswith(".yaml"))


@functools.cache
def load_preset(slug: str) -> Preset:
    """The preset ``slug``; :class:`KeyError` when there is no such file."""
    if not _SLUG.match(slug) or slug not in preset_names():
        raise KeyError(slug)
    import yaml  # only what uses a preset (a connection, the provider dropdown's labels) pays for YAML

    text = resources.files(__name__).joinpath(f"{slug}.yaml").read_text(encoding="utf-8")
    # libyaml's safe loader when PyYAML has it (ten times faster: the dropdown's labels read every file)
    data = yaml.load(text, Loader=yaml.CSafeLoader) if yaml.__with_libyaml__ else yaml.safe_load(text)
    params = {
        name: ProviderParam(
            name=name,
            description=str(spec.get("description", "")),
            default=None if spec.get("default") is None else str(spec["default"]),
            choices=tuple(str(c) for c in spec.get("choices", ())),
            pattern=str(spec.get("pattern", ProviderParam.pattern)),
            derive={k: dict(v) for k, v in (spec.get("derive") or {}).items()},
        )
        for name, spec in (data.get("params") or {}).items()
    }
    return Preset(
        slug=slug,
        name=str(data["name"]),
        fields=MappingProxyType(dict(data["fields"])),
        params=MappingProxyType(params),
        grant_fields=MappingProxyType(
            {k: MappingProxyType(dict(v)) for k, v in (data.get("grant_fields") or {}).items()}
        ),
        param_fields=MappingProxyType(
            {k: MappingProxyType(dict(v)) for k, v in (data.get("param_fields") or {}).items()}
        ),
        scope_extra=MappingProxyType({k: str(v) for k, v in (data.get("scope_extra") or {}).items()}),
        raw=MappingProxyType(data),
    )


def apply_preset(conn_id: str, extra: Mapping[str, Any], host: str | None) -> Applied:
    """
    The connection's fields and host (and the preset's slug) with its preset laid under its own fields.

    Any field the connection sets (non-empty) wins; mapping fields such as ``authorize_params`` combine key by
    key, and ``access_params`` at every level (a token parameter the connection sets wins); the preset's
    refresh-token scopes are added to the connection's scopes. ``{param}`` placeholders are filled from
    ``provider_params``; other placeholders (values captured at authorization) stay.
    """
    from airflow_oauth_connector.exceptions import ProfileError
    from airflow_oauth_connector.json_field import json_object

    raw_slug = extra.get("provider")
    slug = str(raw_slug).strip().lower().replace("-", "_") if raw_slug not in (None, "") else CUSTOM
    if slug == CUSTOM:
        return Applied(CUSTOM, extra, host)
    try:
        preset = load_preset(slug)
    except KeyError:
        valid = ", ".join([CUSTOM, *preset_names()])
        raise ProfileError(
            conn_id, "provider", f"unknown provider {str(raw_slug)[:40]!r}; expected one of: {valid}"
        ) from None
    values = _provider_params(conn_id, preset, extra.get("provider_params"))
    own = _chosen(preset, {k: v for k, v in extra.items() if k not in ("provider", "provider_params")})
    grant = str(own.get("grant_type") or preset.fields.get("grant_type") or "client_credentials")
    layered: dict[str, Any] = {**preset.fields, **preset.grant_fields.get(grant, {})}
    for name, fields in preset.param_fields.items():
        if values.get(name):
            layered = _layer(layered, fields)
    filled = {k: _fill(v, values) for k, v in layered.items()}
    preset_host = filled.pop("host", None)
    merged: dict[str, Any] = {**filled, **own}
    for name in _MERGED_MAPPINGS:
        if isinstance(filled.get(name), Mapping) and name in own:
            merged[name] = {**filled[name], **json_object(conn_id, name, own[name])}
    for name in _MERGED_NESTED:
        if isinstance(filled.get(name), Mapping) and name in own:
            merged[name] = _nested_merge(filled[name], json_object(conn_id, name, own[name]))
    extra_scope = preset.scope_extra.get(grant)
    if extra_scope:
        scopes = str(merged.get("scope") or "").replace(",", " ").split()
        merged["scope"] = " ".join(scopes + [s for s in extra_scope.split() if s not in scopes])
    return Applied(slug, merged, host if host and host.strip() else preset_host)


def _chosen(preset: Preset, fields: Mapping[str, Any]) -> dict[str, Any]:
    """
    The fields the connection chose: set (non-empty), and not a form default standing in for the preset's value.

    Airflow's connection form stores every field's default when the user leaves it alone (grant type "Client
    credentials", client authentication "header", PKCE on, form-encoded token requests), so a stored default
    where the preset sets another value means "not chosen": the preset's value is used. The grant type is kept
    where the preset offers that grant (its ``grant_fields``), as a choice the form showed; to differ from a
    preset in another field, set a value other than the form's default, or use the custom provider.
    """
    from airflow_oauth_connector.fields import FORM_DEFAULTS

    chosen: dict[str, Any] = {}
    for name, value in fields.items():
        if value is None or value == "":
            continue
        stands_in = name in FORM_DEFAULTS and value == FORM_DEFAULTS[name] and _sets_otherwise(preset, name, value)
        if stands_in and not (name == "grant_type" and value in preset.grant_fields):
            continue
        chosen[name] = value
    return chosen


def _sets_otherwise(preset: Preset, name: str, value: Any) -> bool:
    """Whether the preset sets field ``name`` to something else than ``value`` (in any of its layers)."""
    layers = (preset.fields, *preset.grant_fields.values(), *preset.param_fields.values())
    return any(name in layer and layer[name] != value for layer in layers)


def _layer(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        below = merged.get(key)
        merged[key] = {**below, **value} if isinstance(below, Mapping) and isinstance(value, Mapping) else value
    return merged


def _nested_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``, objects in both merged the same way (anything else: ``top``'s value wins)."""
    merged = dict(base)
    for key, value in top.items():
        below = merged.get(key)
        if isinstance(below, Mapping) and isinstance(value, Mapping):
            merged[key] = _nested_merge(below, value)
        else:
            merged[key] = value
    return merged


def _provider_params(conn_id: str, preset: Preset, raw: Any) -> dict[str, str]:
    from airflow_oauth_connector.exceptions import ProfileError
    from airflow_oauth_connector.json_field import json_object

    given = json_object(conn_id, "provider_params", raw)
    unknown = sorted(str(k) for k in given if k not in preset.params)
    if unknown:
        allowed = ", ".join(preset.params) or "none"
        raise ProfileError(
            conn_id,
            "provider_params",
            f"unknown key(s) {', '.join(unknown)[:80]} for provider {preset.slug!r}; it reads: {allowed}",
        )
    values: dict[str, str] = {}
    for name, param in preset.params.items():
        value = given.get(name)
        text = param.default if value in (None, "") else str(value).strip()
        if text is None:
            raise ProfileError(
                conn_id,
                "provider_params",
                f"provider {preset.slug!r} needs the key {name!r}: {param.description}",
            )
        if param.choices and text not in param.choices:
            raise ProfileError(
                conn_id,
                "provider_params",
                f"{name!r} of provider {preset.slug!r} must be one of: {', '.join(param.choices)} (got {text[:40]!r})",
            )
        if not re.match(param.pattern, text):
            raise ProfileError(
                conn_id, "provider_params", f"{name!r} of provider {preset.slug!r} is not valid: {param.description}"
            )
        values[name] = text
        for derived, table in param.derive.items():
            values[derived] = table[text]
    return values


def _fill(value: Any, params: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return _PARAM.sub(lambda m: params.get(m.group(1), m.group(0)), value)
    if isinstance(value, Mapping):
        return {k: _fill(v, params) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, params) for v in value]
    return value
