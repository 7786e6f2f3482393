"""Rate limits per client network, counted in the database so they hold across threads, processes and Lambdas.

The client is stored only as a keyed hash of its network (an IPv4 address, an IPv6 /56), and a row lives only
as long as the window it counts in.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Mapping

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from digest.models import RateLimitHit

SIGNUP = "signup"  # sign-up and confirmation-renewal POSTs: each may send one confirmation mail


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int = 0  # seconds until the oldest counted request leaves the window


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_ip(environ: Mapping, trusted_proxies: tuple[Network, ...] = ()) -> str:
    """The client's IP: the connection's peer, or, when the peer is a trusted proxy, the first hop from the right
    of X-Forwarded-For that is not one.

    On API Gateway the peer is the request context's source IP (apig-wsgi takes REMOTE_ADDR from the
    client-supplied X-Forwarded-For for REST API events). A direct request (the peer is no trusted proxy) never
    reads the header: anyone can write it.
    """
    context = environ.get("apig_wsgi.request_context") or {}
    gateway = (context.get("http") or {}).get("sourceIp") or (context.get("identity") or {}).get("sourceIp")
    peer = gateway or environ.get("REMOTE_ADDR") or ""
    if not _trusted(peer, trusted_proxies):
        return peer
    chain = [hop.strip() for hop in environ.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    if gateway and chain and chain[-1] == peer:
        chain.pop()  # API Gateway appends the peer it saw; count it once
    hop = peer
    while chain and _trusted(hop, trusted_proxies):
        hop = chain.pop()  # written by a proxy we trust: the address it saw
    return hop


def _trusted(ip: str, networks: tuple[Network, ...]) -> bool:
    if not networks:
        return False
    try:
        addr = ipaddress.ip_address(ip.strip().split("%", 1)[0])
    except ValueError:
        return False
    if addr.version == 6 and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return any(addr in net for net in networks)


def network(ip: str) -> str:
    """The unit a limit counts: an IPv4 address, or the /56 an IPv6 customer is commonly given (RIPE-690)."""
    try:
        addr = ipaddress.ip_address(ip.strip().split("%", 1)[0])
    except ValueError:
        return f"other:{ip[:100]}"
    if addr.version == 6 and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if addr.version == 6:
        return str(ipaddress.ip_network(f"{addr}/56", strict=False))
    return str(addr)


def client_key(secret: str, ip: str) -> str:
    """A keyed hash of the client's network: stable per key, useless to anyone without the key."""
    return hmac.new(secret.encode(), b"rate-limit\0" + network(ip).encode(), hashlib.sha256).hexdigest()


def hit(session: Session, scope: str, key: str, limit: int, window: timedelta, now: datetime) -> Decision:
    """Count one request for `key` unless it already made `limit` in the last `window`; prune expired rows.

    A refused request is not counted, so a client is let in again as its oldest requests age out.
    The caller commits.
    """
    if limit <= 0:
        return Decision(True)
    since = now - window
    session.execute(delete(RateLimitHit).where(RateLimitHit.scope == scope, RateLimitHit.at <= since))
    count, oldest = session.execute(
        select(func.count(), func.min(RateLimitHit.at))
        .where(RateLimitHit.scope == scope, RateLimitHit.client_hash == key, RateLimitHit.at > since)
    ).one()
    if count >= limit:
        return Decision(False, max(1, math.ceil((oldest + window - now).total_seconds())))
    session.add(RateLimitHit(scope=scope, client_hash=key, at=now))
    return Decision(True)
