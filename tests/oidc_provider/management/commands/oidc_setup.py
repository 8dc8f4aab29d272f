"""Register confidential clients and create or update users, from one JSON document (one process
start for a whole test module's setup):

    {"clients": [{"client_id": "...", "secret": "...", "redirect_uri": "..."}],
     "users": [{"username": "...", "password": "...", "email": "...", "verified": true,
                "groups": ["okx-traders"]}]}

A client: authorization code flow, RS256 ID tokens, one redirect URI, consent asked every time.
A user gets exactly the groups named (plus EMAIL_VERIFIED_GROUP when "verified").
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from oauth2_provider.models import Application


class Command(BaseCommand):
    help = "Register clients and users of the test OpenID Connect provider."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("spec", help="JSON: {clients: [...], users: [...]}")

    @transaction.atomic
    def handle(self, *args: Any, spec: str, **options: Any) -> None:
        document = json.loads(spec)
        for client in document.get("clients", []):
            register_client(**client)
        for user in document.get("users", []):
            put_user(**user)


def register_client(*, client_id: str, secret: str, redirect_uri: str) -> None:
    Application.objects.filter(client_id=client_id).delete()
    Application.objects.create(
        name="OKX team dashboard",
        client_id=client_id,
        client_secret=secret,  # stored hashed by django-oauth-toolkit
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=redirect_uri,
        algorithm=Application.RS256_ALGORITHM,
        skip_authorization=False,
    )


def put_user(
    *, username: str, password: str, email: str = "", verified: bool = False, groups: list[str] = ()
) -> None:
    user, _ = User.objects.get_or_create(username=username)
    user.email = email
    user.set_password(password)
    user.save()
    names = [*groups, *([settings.EMAIL_VERIFIED_GROUP] if verified else [])]
    user.groups.set([Group.objects.get_or_create(name=name)[0] for name in names])
