"""Who is the client: the TCP peer, or the address a trusted reverse proxy forwarded.

``X-Forwarded-For`` is believed only when the peer is in ``KANMIN_FORWARDED_ALLOW_IPS``
(default: nobody); otherwise anyone could pick their own rate-limit bucket and log name.
uvicorn's own proxy handling is switched off (``proxy_headers=False``) so this is the one rule.
"""
from __future__ import annotations

import ipaddress
from typing import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# Headers through which a client could steer the URLs Gradio builds (its "root"): only a trusted proxy may send them.
_PROXY_HEADERS = {b"x-forwarded-for", b"x-forwarded-host", b"x-forwarded-proto", b"x-forwarded-port", b"forwarded",
                  b"x-real-ip"}


def parse_networks(value: str) -> list[Network]:
    """``"10.0.0.1, 192.168.0.0/24"`` → networks; ValueError names a malformed entry (fail at start-up)."""
    nets = []
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        try:
            nets.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"KANMIN_FORWARDED_ALLOW_IPS: {part!r} is not an IP address or network") from None
    return nets


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return None


def _trusted(addr: str | None, nets: Iterable[Network]) -> bool:
    ip = _ip(addr or "")
    return ip is not None and any(ip in n for n in nets)


def forwarded_client(xff: str, nets: list[Network]) -> str | None:
    """The nearest address in X-Forwarded-For that is not one of our proxies (right to left: the
    left part is whatever the client wrote). None when no valid address is there."""
    for part in reversed(xff.split(",")):
        ip = _ip(part)
        if ip is None:
            return None  # a forged or garbled hop: believe nothing further left
        if not any(ip in n for n in nets):
            return str(ip)
    return None


class ProxyHeadersMiddleware:
    """Outermost: ``scope["client"]`` becomes the forwarded client only behind a trusted proxy; the real
    peer is kept in ``scope["state"]["peer"]``. From anyone else the forwarding headers are dropped."""

    def __init__(self, app: ASGIApp, trusted: str):
        self.app = app
        self.nets = parse_networks(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        client = scope.get("client")
        peer = client[0] if client else None
        scope.setdefault("state", {})["peer"] = peer
        if self.nets and _trusted(peer, self.nets):
            # several X-Forwarded-For lines are one list, in order (RFC 9110 field combination)
            xff = ",".join(v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for")
            forwarded = forwarded_client(xff, self.nets) if xff else None
            if forwarded:
                scope["client"] = (forwarded, 0)
            proto = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-proto"), "")
            proto = proto.split(",")[0].strip().lower()
            if proto in ("http", "https"):
                scope["scheme"] = proto if scope["type"] == "http" else {"http": "ws", "https": "wss"}[proto]
        else:
            scope["headers"] = [(k, v) for k, v in scope["headers"] if k not in _PROXY_HEADERS]
        return await self.app(scope, receive, send)
