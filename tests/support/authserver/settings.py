"""Programmatic Django settings for the test OAuth 2.0 authorization server.

Nothing here runs at import time: :func:`configure` builds the settings from
the values chosen by ``__main__`` (port, data dir, token lifetime, RSA key)
and hands them to ``django.conf.settings.configure``.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

# Client ids of applications for which PKCE is mandatory.  Filled in by the
# seeding step (public clients); read by ``pkce_required`` on every
# authorization request.  A plain set is fine: it is written once at startup
# before the server accepts connections.
PKCE_REQUIRED_CLIENT_IDS: set[str] = set()


def pkce_required(client_id: str) -> bool:
    """Per-client PKCE policy (DOT accepts a callable for PKCE_REQUIRED).

    Public clients must use PKCE; confidential clients may (and when they send
    a code_challenge DOT verifies it as usual).
    """
    return client_id in PKCE_REQUIRED_CLIENT_IDS


LOGIN_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in</title></head>
<body>
<h1>Sign in to the demo authorization server</h1>
{% if form.errors %}<p class="errornote">Invalid username or password.</p>{% endif %}
<form id="loginForm" method="post" action="{{ request.path }}">
  {% csrf_token %}
  <p><label for="id_username">Username</label> {{ form.username }}</p>
  <p><label for="id_password">Password</label> {{ form.password }}</p>
  <input type="hidden" name="next" value="{{ next }}">
  <input type="submit" value="Sign in">
</form>
</body></html>
"""


def _has_exc_info(record) -> bool:
    """Drop django.request's "Service Unavailable: /path" lines for 4xx/5xx
    responses the demo API returns on purpose; keep real exceptions."""
    return not (record.name == "django.request" and not record.exc_info)


def build_settings(
    *,
    base_url: str,
    data_dir: Path,
    access_token_lifetime: int,
    refresh_token_lifetime: int | None,
    rsa_private_key_pem: str,
    device_enabled: bool,
    device_interval: int,
    reuse_protection: bool,
    refresh_grace_seconds: int = 0,
    debug: bool = False,
) -> dict[str, Any]:
    issuer = base_url + "/o"
    db_path = Path(data_dir) / "authserver.sqlite3"

    oauth2_provider: dict[str, Any] = {
        "SCOPES": {
            "read": "Read access to the demo API",
            "write": "Write access to the demo API",
            "openid": "OpenID Connect",
        },
        "DEFAULT_SCOPES": ["read", "write"],
        "ACCESS_TOKEN_EXPIRE_SECONDS": int(access_token_lifetime),
        "REFRESH_TOKEN_EXPIRE_SECONDS": refresh_token_lifetime,
        "AUTHORIZATION_CODE_EXPIRE_SECONDS": 120,
        # Refresh-token rotation; by default no grace period: replay of a
        # rotated token -> invalid_grant (and with reuse protection the whole
        # family is revoked, as RFC 9700 recommends). With a grace window (Okta:
        # 30 s, Xero: 30 min) the token just rotated away is still accepted.
        "ROTATE_REFRESH_TOKEN": True,
        "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": int(refresh_grace_seconds),
        "REFRESH_TOKEN_REUSE_PROTECTION": bool(reuse_protection),
        # PKCE: mandatory for public clients, optional (but verified) for
        # confidential ones.
        "PKCE_REQUIRED": pkce_required,
        # RFC 8252 section 7.3: any port for http://127.0.0.1 / http://[::1]
        # redirect URIs (DOT does this natively); also treat "localhost" so.
        "ALLOW_LOCALHOST_LOOPBACK": True,
        "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"],
        # OpenID Connect (discovery document, JWKS, id_token).
        "OIDC_ENABLED": True,
        "OIDC_RSA_PRIVATE_KEY": rsa_private_key_pem,
        "OIDC_ISS_ENDPOINT": issuer,
        "OIDC_USERINFO_ENDPOINT": issuer + "/userinfo/",
        "OIDC_RESPONSE_TYPES_SUPPORTED": ["code"],
        "OAUTH2_RESPONSE_TYPES_SUPPORTED": ["code"],
        "REQUEST_APPROVAL_PROMPT": "force",
        # Device Authorization Grant (RFC 8628).
        "DEVICE_FLOW_INTERVAL": int(device_interval),
        # DOT 3.4.1 + oauthlib 4.0.1 device-grant glue, see compat.py.
        "OAUTH2_VALIDATOR_CLASS": "tests.support.authserver.compat.CompatOAuth2Validator",
        "OAUTH_DEVICE_VERIFICATION_URI": issuer + "/device/" if device_enabled else None,
        "OAUTH_DEVICE_VERIFICATION_URI_COMPLETE": (
            (lambda user_code: f"{issuer}/device/?user_code={user_code}") if device_enabled else None
        ),
    }

    return {
        "DEBUG": debug,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": ["*"],  # the socket is bound to loopback only
        "ROOT_URLCONF": "tests.support.authserver.urls",
        "INSTALLED_APPS": [
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "django.contrib.sessions",
            "django.contrib.staticfiles",
            "oauth2_provider",
        ],
        "MIDDLEWARE": [
            "tests.support.authserver.stats.RequestStatsMiddleware",
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
        ],
        "DATABASES": {
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(db_path),
                "OPTIONS": {
                    # Busy timeout (seconds) + take the write lock at BEGIN so
                    # concurrent writers queue instead of failing with
                    # "database is locked" on lock upgrade.
                    "timeout": 60,
                    "transaction_mode": "IMMEDIATE",
                    "init_command": "PRAGMA synchronous=NORMAL",
                },
            }
        },
        "DEFAULT_AUTO_FIELD": "django.db.models.BigAutoField",
        "USE_TZ": True,
        "TIME_ZONE": "UTC",
        # Fast hashing: this is a throw-away loopback test server.
        "PASSWORD_HASHERS": ["django.contrib.auth.hashers.MD5PasswordHasher"],
        "SESSION_ENGINE": "django.contrib.sessions.backends.signed_cookies",
        "LOGIN_URL": "/accounts/login/",
        "LOGIN_REDIRECT_URL": "/accounts/profile/",
        "STATIC_URL": "/static/",
        "APPEND_SLASH": False,
        "TEMPLATES": [
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "DIRS": [],
                "APP_DIRS": False,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.template.context_processors.csrf",
                        "django.contrib.auth.context_processors.auth",
                    ],
                    "loaders": [
                        (
                            "django.template.loaders.locmem.Loader",
                            {"registration/login.html": LOGIN_TEMPLATE},
                        ),
                        "django.template.loaders.app_directories.Loader",
                    ],
                },
            }
        ],
        "OAUTH2_PROVIDER": oauth2_provider,
        # Quiet logging: never log request lines / query strings (they may carry
        # codes or access tokens); only warnings and errors, without request
        # details, go to stderr.
        "LOGGING": {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
            "filters": {"no_plain_status": {"()": "django.utils.log.CallbackFilter", "callback": _has_exc_info}},
            "handlers": {
                "stderr": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["no_plain_status"]}
            },
            "root": {"handlers": ["stderr"], "level": "WARNING"},
            "loggers": {
                "django.request": {"level": "ERROR"},
                "django.server": {"level": "ERROR"},
                "oauthlib": {"level": "WARNING"},
                "oauth2_provider": {"level": "WARNING"},
                "waitress": {"level": "WARNING"},
                "waitress.queue": {"level": "ERROR"},  # "Task queue depth" under load
            },
        },
    }


def configure(**kwargs: Any) -> None:
    import django
    from django.conf import settings

    settings.configure(**build_settings(**kwargs))
    django.setup()
