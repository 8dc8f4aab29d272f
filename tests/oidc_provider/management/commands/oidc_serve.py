"""Migrate the provider's database, then serve on 127.0.0.1:<port> (threaded) until stopped."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.core.servers.basehttp import run
from django.core.wsgi import get_wsgi_application


class Command(BaseCommand):
    help = "Serve the test OpenID Connect provider."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, required=True)

    def handle(self, *args: Any, port: int, **options: Any) -> None:
        call_command("migrate", verbosity=0)
        run("127.0.0.1", port, get_wsgi_application(), threading=True)
