"""The HTML of the OAuth profiles page: escaping, actions per grant type, notices."""

from __future__ import annotations

from airflow_oauth_connector.plugins.pages import Notice, ProfileRow, RowFailure, profiles_page, result_page


def _row(**overrides: object) -> ProfileRow:
    values: dict[str, object] = {
        "conn_id": "crm",
        "grant_type": "authorization_code",
        "state": "not_authorized",
        "description": "not authorized yet",
        "scope": "read write",
        "last_refresh": None,
        "redirect_uri": "https://airflow.example.com/oauth-connector/callback",
    }
    values.update(overrides)
    return ProfileRow(**values)  # type: ignore[arg-type]


def _page(rows: list[ProfileRow], notice: Notice | None = None) -> str:
    return profiles_page(
        rows,
        base="/oauth-connector",
        airflow_home_url="/",
        user_name="admin",
        csrf_token="tok<en>",
        callback_url="https://airflow.example.com/oauth-connector/callback",
        notice=notice,
    )


def test_authorization_code_row_has_authorize_and_redirect_uri() -> None:
    html = _page([_row()])
    assert "action='/oauth-connector/profiles/crm/authorize'" in html
    assert "action='/oauth-connector/profiles/crm/test'" in html
    assert "action='/oauth-connector/profiles/crm/forget'" in html
    assert "Redirect URI to register: <code>https://airflow.example.com/oauth-connector/callback</code>" in html
    assert html.count("value='tok&lt;en&gt;'") == 3  # every POST form carries the (escaped) CSRF token
    assert "method='post'" in html
    assert "method='get'" not in html


def test_client_credentials_row_has_no_authorize() -> None:
    html = _page([_row(conn_id="cc", grant_type="client_credentials", state="ready", redirect_uri=None)])
    assert "/profiles/cc/authorize" not in html
    assert "/profiles/cc/test" in html


def test_everything_is_escaped() -> None:
    evil = "<script>alert(1)</script>"
    html = _page([_row(conn_id=evil, description=evil, scope=evil)], Notice("error", evil, evil))
    assert "<script>" not in html
    assert "%3Cscript%3E" in html  # the conn id in URLs is percent-encoded


def test_empty_list_explains_itself() -> None:
    assert "No connection of type" in _page([])


def test_result_page_links() -> None:
    html = result_page(Notice("success", "Connection 'crm' is authorized"), profiles_url="/oauth-connector/")
    assert "Back to OAuth profiles" in html
    assert "notice-success" in html
    html = result_page(Notice("error", "Sign in"), profiles_url="/p/", sign_in_url="/auth/login?next=x")
    assert "href='/auth/login?next=x'" in html


def test_a_rows_last_failure_shows_kind_time_and_where_escaped() -> None:
    from airflow_oauth_connector.plugins.pages import RowFailure

    failure = RowFailure(kind="invalid_client", at="2026-11-29 01:23 UTC", where="sync/pull/try 1", message="<b>x</b>")
    row = _row(grant_type="client_credentials", state="failing", failure=failure, last_success="2026-11-29 00:23 UTC")
    html = _page([row])
    assert "<span class='state state-failing'>failing</span>" in html
    assert (
        "<div class='failure' data-kind='invalid_client' data-where='sync/pull/try 1'>Last failure: "
        "<strong>invalid_client</strong> at 2026-11-29 01:23 UTC in <code>sync/pull/try 1</code>: "
        "&lt;b&gt;x&lt;/b&gt;</div>"
    ) in html
    assert "last success: 2026-11-29 00:23 UTC" in html


def test_a_row_without_failure_shows_its_description() -> None:
    html = _page([_row(grant_type="client_credentials", state="not_tested", description="not tested yet: ...")])
    assert "<div class='desc'>not tested yet: ...</div>" in html
    assert "class='failure'" not in html


def test_a_rows_refresh_token_expiry_is_shown_once() -> None:
    expiry = "refresh token expires in 12 days"
    described = _page([_row(state="authorized", description=f"authorized; {expiry}", refresh_expiry=expiry)])
    assert described.count(expiry) == 1
    failing = _page([_row(state="failing", failure=RowFailure("unreachable", None, "test", ""), refresh_expiry=expiry)])
    assert f"<div class='desc refresh-expiry'>{expiry}</div>" in failing
    expired = "refresh token expired at 2026-11-29 01:23 UTC — authorize again <now>"
    html = _page([_row(state="needs_reauthorization", description="needs re-authorization", refresh_expiry=expired)])
    assert (
        "<div class='desc refresh-expiry'>refresh token expired at 2026-11-29 01:23 UTC — authorize again &lt;now&gt;"
        in html
    )
    said = _page(
        [_row(state="needs_reauthorization", description=f"needs re-authorization: {expired}", refresh_expiry=expired)]
    )
    assert "refresh-expiry" not in said


def test_the_classic_page_links_to_the_native_page_when_it_is_built() -> None:
    assert "Open in Airflow" not in _page([_row()])
    html = profiles_page(
        [_row()],
        base="/team-a/oauth-connector",
        airflow_home_url="/team-a/",
        user_name="admin",
        csrf_token="t",
        callback_url="https://airflow.example.com/team-a/oauth-connector/callback",
        native_url="/team-a/plugin/oauth-profiles",
    )
    assert "<a href='/team-a/plugin/oauth-profiles'>Open in Airflow's UI (Add, Edit)</a>" in html
