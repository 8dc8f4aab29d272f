"""`manage.py api_token USERNAME [--rotate]`: a user's API token, shown once.

The token is printed on stdout (alone, so a script can capture it) only when it is created or
replaced; later runs say that it exists but never print it again, and cannot: the database keeps
only its SHA-512 digest and a 15-character lookup prefix (django-rest-knox). A user has one token;
`--rotate` replaces it, and the old token stops working at once. Key admins can also delete tokens
in the admin (Dashboard → API tokens).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from knox.models import AuthToken

from accounts.roles import VIEW_DASHBOARD


class Command(BaseCommand):
    help = "Create (or with --rotate replace) a user's API token and print it once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--rotate", action="store_true", help="replace the existing token (the old one stops working)"
        )

    def handle(self, *args: Any, username: str, rotate: bool = False, **options: Any) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        if not user.is_active:
            raise CommandError(f"{username} is inactive: an inactive user's token is refused anyway")
        with transaction.atomic():
            # Lock the user's row: knox allows many tokens per user, this command keeps one, and two
            # runs at once must not both create one.
            get_user_model().objects.select_for_update().filter(pk=user.pk).first()
            existing = AuthToken.objects.filter(user=user).order_by("created").first()
            if existing is not None and not rotate:
                raise CommandError(
                    f"{username} already has a token (created {existing.created:%Y-%m-%d %H:%M} UTC); it is "
                    "shown only when made. Run again with --rotate to replace it."
                )
            if existing is not None:
                AuthToken.objects.filter(user=user).delete()
            # knox returns the token itself only here; the row holds its digest.
            _, token = AuthToken.objects.create(user=user)
        self._explain(user, replaced=existing is not None)
        self.stdout.write(token)

    def _explain(self, user: Any, *, replaced: bool) -> None:
        """Messages go to stderr so that stdout holds the token only."""
        done = "replaced; the old token no longer works" if replaced else "created"
        self.stderr.write(f"API token for {user.username} {done}. It is shown only this once:")
        if not user.has_perm(VIEW_DASHBOARD):
            self.stderr.write(
                f"Note: {user.username} has no dashboard role yet, so the API will answer 403 until a "
                "key admin adds them to the viewer, operator or key admin group."
            )
