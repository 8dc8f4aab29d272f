"""The test side of the provider: start it as a process on a free port and wait until its
discovery document answers, set up its clients and users, and play the person's browser at the
provider (its login page and consent form, over real HTTP with requests)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests

ROOT = Path(__file__).resolve().parents[2]
MANAGE = [sys.executable, "-m", "tests.oidc_provider.manage"]
START_TIMEOUT_S = 90  # migrating a fresh database on a busy 2-core machine
HTTP_TIMEOUT_S = 20


@dataclass
class Provider:
    """A running test provider; `issuer` is what OIDC_ISSUER must be."""

    process: subprocess.Popen[bytes]
    port: int
    env: dict[str, str]
    log: Path

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}/o"

    def setup(self, *, clients: Sequence[dict[str, Any]] = (), users: Sequence[dict[str, Any]] = ()) -> None:
        """Register clients and create or update users (oidc_setup), in one process."""
        spec = json.dumps({"clients": list(clients), "users": list(users)})
        done = subprocess.run(
            [*MANAGE, "oidc_setup", spec], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def start_provider(workdir: Path) -> Provider:
    """The provider on a free port of 127.0.0.1 with its own database under `workdir`, once its
    discovery document answers (polled; a provider that exits early fails with its log)."""
    port = _free_port()
    env = {
        **os.environ,
        "OIDC_PROVIDER_DB": str(workdir / "provider.sqlite3"),
        "OIDC_PROVIDER_ISSUER": f"http://127.0.0.1:{port}/o",
    }
    log = workdir / "provider.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*MANAGE, "oidc_serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    provider = Provider(process=process, port=port, env=env, log=log)
    try:
        _wait_for_discovery(provider)
    except BaseException:
        provider.stop()
        raise
    return provider


def _wait_for_discovery(provider: Provider) -> None:
    url = provider.issuer + "/.well-known/openid-configuration"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if provider.process.poll() is not None:
            raise AssertionError(f"the test provider exited: {provider.log.read_text()[-3000:]}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)  # polling interval, not a wait for readiness
    raise AssertionError(
        f"the test provider did not answer in {START_TIMEOUT_S} s: {provider.log.read_text()[-3000:]}"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _FormFields(HTMLParser):
    """The named <input> values of a page's forms (hidden fields, CSRF token)."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "input" and named.get("name") and named.get("type") != "submit":
            self.fields[str(named["name"])] = named.get("value") or ""


def form_fields(html: str) -> dict[str, str]:
    parser = _FormFields()
    parser.feed(html)
    return parser.fields


def answer_at_provider(authorize_url: str, username: str, password: str, *, allow: bool = True) -> str:
    """What a person does at the provider after /login/oidc/ sent them there: sign in on its login
    page, then Authorize (or Cancel) on its consent page. Returns where the provider sends the
    browser back: our callback URL with code and state (or with error=access_denied)."""
    browser = requests.Session()
    to_login = browser.get(authorize_url, allow_redirects=False, timeout=HTTP_TIMEOUT_S)
    assert to_login.status_code == 302, to_login.text[:500]
    login_url = urljoin(authorize_url, to_login.headers["Location"])
    fields = form_fields(browser.get(login_url, timeout=HTTP_TIMEOUT_S).text)
    signed_in = browser.post(
        login_url,
        data={**fields, "username": username, "password": password},
        allow_redirects=False,
        timeout=HTTP_TIMEOUT_S,
    )
    assert signed_in.status_code == 302, f"the provider refused {username}'s password"
    consent_url = urljoin(login_url, signed_in.headers["Location"])
    consent = browser.get(consent_url, timeout=HTTP_TIMEOUT_S)
    assert 'id="authorizationForm"' in consent.text, consent.text[:500]
    fields = form_fields(consent.text)
    if allow:
        fields["allow"] = "Authorize"
    answer = browser.post(consent_url, data=fields, allow_redirects=False, timeout=HTTP_TIMEOUT_S)
    assert answer.status_code == 302, answer.text[:500]
    return str(answer.headers["Location"])
