"""What django-axes counts wrong passwords by (settings.AXES_LOCKOUT_PARAMETERS names
lockout_parameters): the login page per (username, client IP), as configured before; a key
action's password re-entry (accounts.forms.PasswordReentry) per username alone.

The person re-entering a password on a key action is signed in already: a guesser who holds the
session can send each guess from another address, so an IP in the count would let every address
start from zero. Counted by username, the limit holds from any address until the cool-off ends.
"""

from __future__ import annotations

from typing import Any

# The mark a key action's re-entry puts in the credentials it gives Django and axes.
KEY_ACTION = "key_action"
LOGIN_PARAMETERS: list[str | list[str]] = [["username", "ip_address"]]
KEY_ACTION_PARAMETERS: list[str | list[str]] = ["username"]


def lockout_parameters(
    request_or_attempt: Any, credentials: dict[str, Any] | None = None
) -> list[str | list[str]]:
    """The axes lockout parameters for one check or failure: ["username"] for a key action's
    re-entry (credentials carry KEY_ACTION), [["username", "ip_address"]] for everything else."""
    if credentials and credentials.get(KEY_ACTION):
        return KEY_ACTION_PARAMETERS
    return LOGIN_PARAMETERS
