"""The test provider's claims: preferred_username, email, email_verified and groups, in the ID
token and at the userinfo endpoint."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from oauth2_provider.oauth2_validators import OAuth2Validator


class GroupsValidator(OAuth2Validator):
    # django-oauth-toolkit sends a claim only when its scope was granted; groups come with openid.
    oidc_claim_scope = {**OAuth2Validator.oidc_claim_scope, "groups": "openid"}

    def get_additional_claims(self, request: Any) -> dict[str, Any]:
        user = request.user
        groups = sorted(user.groups.values_list("name", flat=True))
        return {
            "preferred_username": user.username,
            "email": user.email,
            "email_verified": settings.EMAIL_VERIFIED_GROUP in groups,
            "groups": [name for name in groups if name != settings.EMAIL_VERIFIED_GROUP],
        }
