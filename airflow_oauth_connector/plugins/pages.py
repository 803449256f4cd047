"""Server-rendered HTML of the OAuth profiles page. Every value is escaped; no secret is ever passed in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Literal

from airflow_oauth_connector.profile import GrantType

NoticeKind = Literal["success", "error", "info"]

_STYLE = """
:root { color-scheme: light dark; --fg: #1f2933; --muted: #5f6b7a; --line: #d9dee5; --bg: #ffffff;
  --accent: #017cee; --ok: #1d7f3b; --bad: #b42318; --warn: #9a6700; --chip: #f1f4f8; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e9ee; --muted: #9aa5b4; --line: #38404b;
  --bg: #16191d; --chip: #232830; } }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--fg); background: var(--bg); }
h1 { font-size: 22px; margin: 0 0 4px; }
p.lead { color: var(--muted); margin: 0 0 20px; }
a { color: var(--accent); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 10px 12px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
code { background: var(--chip); padding: 1px 5px; border-radius: 4px; font-size: 12.5px; word-break: break-all; }
.state { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600;
  background: var(--chip); }
.state-authorized, .state-ready { color: var(--ok); }
.state-needs_reauthorization, .state-not_authorized, .state-not_tested { color: var(--warn); }
.state-error, .state-failing { color: var(--bad); }
.failure { color: var(--bad); font-size: 13px; margin-top: 4px; word-break: break-word; }
.desc { color: var(--muted); font-size: 13px; margin-top: 4px; }
.hint { color: var(--muted); font-size: 12.5px; margin-top: 6px; }
.actions { display: flex; gap: 6px; flex-wrap: wrap; }
.actions form { margin: 0; }
button { font: inherit; font-size: 13px; padding: 4px 12px; border-radius: 6px; cursor: pointer;
  border: 1px solid var(--line); background: var(--chip); color: var(--fg); }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
button.danger { color: var(--bad); }
.notice { padding: 10px 14px; border-radius: 6px; margin: 0 0 18px; border: 1px solid var(--line); }
.notice-success { border-color: var(--ok); }
.notice-error { border-color: var(--bad); }
.notice strong { display: block; }
.empty { padding: 24px; color: var(--muted); text-align: center; }
footer { margin-top: 24px; color: var(--muted); font-size: 12.5px; }
"""


@dataclass(frozen=True)
class RowFailure:
    """A row's last failure, formatted: kind, when, where (``test``, ``page``, ``cli``, ``dag/task/try N``), message."""

    kind: str
    at: str | None
    where: str
    message: str


@dataclass(frozen=True)
class ProfileRow:
    """One connection as the page shows it (metadata only)."""

    conn_id: str
    grant_type: str
    state: str
    description: str
    scope: str | None
    last_refresh: str | None
    redirect_uri: str | None = None
    """For authorization-code profiles: the exact redirect URI to register at the provider."""
    failure: RowFailure | None = None
    """The last token request's failure, when the last outcome recorded is one."""
    last_success: str | None = None
    """When a token request last succeeded (formatted)."""
    refresh_expiry: str | None = None
    """When the refresh token expires, as its token response stated (``refresh token expires in 12 days``)."""

    @property
    def can_authorize(self) -> bool:
        return self.grant_type == GrantType.AUTHORIZATION_CODE.value


@dataclass(frozen=True)
class Notice:
    kind: NoticeKind
    title: str
    message: str = ""


def _layout(title: str, body: str) -> str:
    return (
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<meta name='referrer' content='no-referrer'>"
        f"<title>{escape(title)} - Airflow</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>\n"
    )


def _notice(notice: Notice | None) -> str:
    if notice is None:
        return ""
    message = f"<span>{escape(notice.message)}</span>" if notice.message else ""
    return (
        f"<div class='notice notice-{escape(notice.kind)}' role='status' data-kind='{escape(notice.kind)}'>"
        f"<strong>{escape(notice.title)}</strong>{message}</div>"
    )


def _action(action_url: str, label: str, csrf_token: str, css: str = "") -> str:
    css_attr = f" class='{escape(css)}'" if css else ""
    return (
        f"<form method='post' action='{escape(action_url)}'>"
        f"<input type='hidden' name='csrf_token' value='{escape(csrf_token)}'>"
        f"<button type='submit'{css_attr}>{escape(label)}</button></form>"
    )


def profiles_page(
    rows: Sequence[ProfileRow],
    *,
    base: str,
    airflow_home_url: str,
    user_name: str,
    csrf_token: str,
    callback_url: str,
    notice: Notice | None = None,
    native_url: str | None = None,
) -> str:
    """
    The list of OAuth connections with their status and actions; ``base`` is the plugin's URL path,
    ``native_url`` the native page inside Airflow's UI (with Add and Edit) when its bundle was built.
    """
    body_rows = []
    for row in rows:
        conn = escape(row.conn_id)
        path = f"{base}/profiles/{_path_segment(row.conn_id)}"
        actions = []
        if row.can_authorize:
            actions.append(_action(f"{path}/authorize", "Authorize", csrf_token, "primary"))
        actions.append(_action(f"{path}/test", "Test", csrf_token))
        actions.append(_action(f"{path}/forget", "Forget tokens", csrf_token, "danger"))
        redirect = (
            f"<div class='hint'>Redirect URI to register: <code>{escape(row.redirect_uri)}</code></div>"
            if row.can_authorize and row.redirect_uri
            else ""
        )
        body_rows.append(
            f"<tr data-conn-id='{conn}'>"
            f"<td><strong>{conn}</strong>{redirect}</td>"
            f"<td>{escape(row.grant_type.replace('_', ' '))}</td>"
            f"<td><span class='state state-{escape(row.state)}'>{escape(row.state.replace('_', ' '))}</span>"
            f"{_status_detail(row)}{_refresh_expiry(row)}</td>"
            f"<td>{escape(row.scope) if row.scope else '&mdash;'}</td>"
            f"<td>{escape(row.last_refresh) if row.last_refresh else '&mdash;'}{_last_success(row)}</td>"
            f"<td><div class='actions'>{''.join(actions)}</div></td></tr>"
        )
    if body_rows:
        table = (
            "<table><thead><tr><th>Connection</th><th>Grant type</th><th>Status</th><th>Scopes</th>"
            "<th>Last refresh</th><th>Actions</th></tr></thead><tbody>" + "".join(body_rows) + "</tbody></table>"
        )
    else:
        table = (
            "<div class='empty'>No connection of type <code>oauth_connector</code> (OAuth 2.0 API) is stored "
            "in the Airflow database yet, or you may not edit any. Add one under Admin &rarr; Connections.</div>"
        )
    body = (
        f"<h1>OAuth profiles</h1><p class='lead'>Connections of type OAuth 2.0 API. Signed in as "
        f"<strong>{escape(user_name)}</strong> &middot; <a href='{escape(airflow_home_url)}'>Back to Airflow</a>"
        + (f" &middot; <a href='{escape(native_url)}'>Open in Airflow's UI (Add, Edit)</a>" if native_url else "")
        + "</p>"
        f"{_notice(notice)}{table}"
        f"<footer>Authorization-code profiles: register the redirect URI shown for each at the provider. "
        f"This page's callback is <code>{escape(callback_url)}</code>; a profile's "
        f"<code>redirect_uri</code> field overrides it. Tokens and secrets are never shown here.</footer>"
    )
    return _layout("OAuth profiles", body)


def _status_detail(row: ProfileRow) -> str:
    """The row's description, or its last failure: kind, time and where, then the message."""
    failure = row.failure
    if failure is None:
        return f"<div class='desc'>{escape(row.description)}</div>"
    when = f" at {escape(failure.at)}" if failure.at else ""
    message = f": {escape(failure.message)}" if failure.message else ""
    return (
        f"<div class='failure' data-kind='{escape(failure.kind)}' data-where='{escape(failure.where)}'>"
        f"Last failure: <strong>{escape(failure.kind)}</strong>{when} in <code>{escape(failure.where)}</code>"
        f"{message}</div>"
    )


def _refresh_expiry(row: ProfileRow) -> str:
    """The refresh token's stated expiry, unless the description shown already says it."""
    if not row.refresh_expiry or (row.failure is None and row.refresh_expiry in row.description):
        return ""
    return f"<div class='desc refresh-expiry'>{escape(row.refresh_expiry)}</div>"


def _last_success(row: ProfileRow) -> str:
    return f"<div class='desc'>last success: {escape(row.last_success)}</div>" if row.last_success else ""


def result_page(notice: Notice, *, profiles_url: str, details: str = "", sign_in_url: str | None = None) -> str:
    """A page of its own for the end of an authorization (success or a clear error), or a refusal."""
    extra = f"<p class='desc'>{escape(details)}</p>" if details else ""
    link = (
        f"<a href='{escape(sign_in_url)}'>Sign in to Airflow</a>"
        if sign_in_url
        else f"<a href='{escape(profiles_url)}'>Back to OAuth profiles</a>"
    )
    body = f"<h1>OAuth profiles</h1>{_notice(notice)}{extra}<p>{link}</p>"
    return _layout(notice.title, body)


def _path_segment(conn_id: str) -> str:
    from urllib.parse import quote

    return quote(conn_id, safe="")
