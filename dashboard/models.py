"""The dashboard's own model: API tokens as the admin shows them (django-rest-knox's table)."""

from __future__ import annotations

from knox.models import AuthToken


class ApiToken(AuthToken):
    """A user's API token as key admins see it in the admin: who, since when; never the token or
    its lookup prefix. Knox's own str() is the digest, which would name the token in the admin's
    pages and its change log; this one names the owner."""

    class Meta:
        proxy = True
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"API token of {self.user} (created {self.created:%Y-%m-%d %H:%M} UTC)"
