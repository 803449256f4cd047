"""Shims for two incompatibilities between django-oauth-toolkit 3.4.1 and
oauthlib 4.0.1 in the Device Authorization Grant (RFC 8628).  Both only adapt
interfaces; the protocol logic stays DOT's / oauthlib's.

1. oauthlib's device authorization response carries a non-standard ``scope``
   member, which DOT's ``DeviceCodeResponse`` dataclass rejects (TypeError ->
   HTTP 500 on every /o/device-authorization/ call).
2. oauthlib's ``DeviceCodeGrant`` calls ``RequestValidator.validate_device_code``,
   which DOT's ``OAuth2Validator`` does not implement (AttributeError -> HTTP 500
   when an approved device polls the token endpoint).

Each shim steps aside if the installed DOT already handles the case.
"""

from __future__ import annotations

from oauth2_provider.models import get_device_grant_model
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.views import DeviceAuthorizationView


class CompatDeviceAuthorizationView(DeviceAuthorizationView):
    def create_device_authorization_response(self, request):
        headers, response, status = super().create_device_authorization_response(request)
        if status == 200 and isinstance(response, dict):
            # DOT resolves the scope itself (requested or default) when it
            # stores the DeviceGrant.
            response = {k: v for k, v in response.items() if k != "scope"}
        return headers, response, status


class CompatOAuth2Validator(OAuth2Validator):
    if not hasattr(OAuth2Validator, "validate_device_code"):

        def validate_device_code(self, client_id, code, request, *args, **kwargs):
            from oauthlib.oauth2.rfc8628.grant_types.device_code import DeviceCodeGrant

            model = get_device_grant_model()
            try:
                device = model.objects.get(device_code=code, client_id=client_id)
            except model.DoesNotExist:
                return None
            if device.is_expired():
                return DeviceCodeGrant.DEVICE_CODE_EXPIRED
            if device.status == model.AUTHORIZED:
                request.user = device.user
                request.scopes = (device.scope or "").split()
                return DeviceCodeGrant.DEVICE_CODE_AUTHORIZED
            if device.status == model.DENIED:
                return DeviceCodeGrant.DEVICE_CODE_DENIED
            if device.status == model.EXPIRED:
                return DeviceCodeGrant.DEVICE_CODE_EXPIRED
            return DeviceCodeGrant.DEVICE_CODE_PENDING
