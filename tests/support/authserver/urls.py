"""URL configuration of the test authorization server."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.http import JsonResponse
from django.urls import include, path
from oauth2_provider import urls as oauth2_urls

from . import api, stats
from .compat import CompatDeviceAuthorizationView


def profile(request):
    user = request.user
    return JsonResponse({"user": user.get_username() if user.is_authenticated else None})


urlpatterns = [
    # DOT: /o/authorize/, /o/token/, /o/revoke_token/, /o/introspect/,
    # /o/device-authorization/, /o/device/, /o/.well-known/openid-configuration,
    # /o/.well-known/jwks.json, /o/userinfo/, /o/.well-known/oauth-authorization-server
    path("o/device-authorization/", CompatDeviceAuthorizationView.as_view()),
    path("o/", include(oauth2_urls)),
    # RFC 8414 path-insertion form for issuer .../o:
    # /.well-known/oauth-authorization-server/o
    path("", include((oauth2_urls.metadata_urlpatterns, "oauth2_provider_root"))),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/profile/", profile, name="profile"),
    path("api/whoami", api.whoami),
    path("api/echo", api.echo),
    path("api/items", api.items),
    path("api/status/<int:code>", api.status),
    path("api/slow", api.slow),
    path("api/records", api.records),
    path("api/jobs/<str:name>", api.job),
    path("test/stats", stats.stats_view),
    path("test/reset", stats.reset_view),
    path("test/token-requests", stats.token_requests_view),
    path("test/config", stats.config_view),
    path("healthz", stats.healthz_view),
]
