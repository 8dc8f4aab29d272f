"""The client's IP address behind PROXY_COUNT trusted reverse proxies (django-axes'
AXES_CLIENT_IP_CALLABLE, so login lockouts and audit rows see the client, not the proxy).

Each reverse proxy appends the address it received the request from to X-Forwarded-For, so with
N proxies in front the client is the N-th entry from the right; anything to the left of it was
written by the client and is not trusted.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """The client's address as text ("203.0.113.7", "2001:db8::1"), or None when unknown.

    PROXY_COUNT = 0 (no proxy): REMOTE_ADDR; X-Forwarded-For is ignored, since anyone can send it.
    PROXY_COUNT = N > 0: the N-th address from the right of X-Forwarded-For. When the header has
    fewer than N entries or that entry is not an IP address (the request did not come through
    the proxies), REMOTE_ADDR.
    """
    remote = request.META.get("REMOTE_ADDR") or None
    count: int = settings.PROXY_COUNT
    if count <= 0:
        return remote
    chain = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if len(chain) < count:
        return remote
    candidate = chain[-count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote
