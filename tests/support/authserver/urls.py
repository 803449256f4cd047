"""URL configuration of the test authorization server."""

from django.contrib.auth import views as auth_views
from django.http import JsonResponse
from django.urls import include, path
from oauth2_provider import urls as oauth2_urls
from oauth2_provider.views import DeviceAuthorizationView


from . import api, stats


class CompatDeviceAuthorizationView(DeviceAuthorizationView):
    """DOT 3.4.1's view crashes (500) with oauthlib 4.0.1, whose device
    authorization response carries a non-standard ``scope`` member that DOT's
    ``DeviceCodeResponse`` dataclass does not accept.  Drop it; DOT resolves the
    scope itself (requested or default) when it stores the device grant."""

    def create_device_authorization_response(self, request):
        headers, response, status = super().create_device_authorization_response(request)
        if status == 200 and isinstance(response, dict):
            response = {k: v for k, v in response.items() if k != "scope"}
        return headers, response, status


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
    path("test/stats", stats.stats_view),
    path("test/reset", stats.reset_view),
    path("test/token-requests", stats.token_requests_view),
    path("healthz", stats.healthz_view),
]
