"""The test provider's manage.py: `python -m tests.oidc_provider.manage <command>`, run from the
repository's root."""

from __future__ import annotations

import os
import sys


def main() -> None:
    # Not setdefault: the test process that starts this one runs with the dashboard's settings.
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.oidc_provider.settings"
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
