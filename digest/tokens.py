"""Signed, short, revocable tokens for the links in every email."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .errors import DigestError

PURPOSES = {"unsubscribe": 1, "preferences": 2, "confirm": 3}
_LAYOUT = struct.Struct(">BBIQHI")  # format, purpose, key id, subscriber id, token version, issued (minutes)
_FORMAT = 1
_MAC_BYTES = 12


class TokenError(DigestError):
    """A token is malformed, forged, revoked, expired or meant for something else."""


@dataclass(frozen=True, slots=True)
class Claims:
    subscriber_id: int
    purpose: str
    version: int
    issued_at: datetime | None


def key_id(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big")


def _mac(key: str, body: bytes) -> bytes:
    return hmac.new(key.encode(), body, hashlib.sha256).digest()[:_MAC_BYTES]


def sign(keys: tuple[str, ...], purpose: str, subscriber_id: int, version: int,
         issued_at: datetime | None = None) -> str:
    """Make a URL-safe token for one subscriber and purpose, signed with the first key."""
    minutes = int(issued_at.timestamp() // 60) if issued_at else 0
    body = _LAYOUT.pack(_FORMAT, PURPOSES[purpose], key_id(keys[0]), subscriber_id, version, minutes)
    return _encode(body + _mac(keys[0], body))


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def verify(keys: tuple[str, ...], token: str, purpose: str) -> Claims:
    """Check a token against every configured key (rotation) and return what it says."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, TypeError) as e:
        raise TokenError("malformed token") from e
    if len(raw) != _LAYOUT.size + _MAC_BYTES or _encode(raw) != token:
        raise TokenError("malformed token")  # one spelling per token: no padding, no '+'/'/', no spare bits
    body, mac = raw[: _LAYOUT.size], raw[_LAYOUT.size :]
    fmt, code, kid, sub_id, version, minutes = _LAYOUT.unpack(body)
    key = next((k for k in keys if key_id(k) == kid), None)
    if fmt != _FORMAT or key is None or not hmac.compare_digest(mac, _mac(key, body)):
        raise TokenError("invalid token")
    if code != PURPOSES[purpose]:
        raise TokenError("token for another purpose")
    issued = datetime.fromtimestamp(minutes * 60, UTC) if minutes else None
    return Claims(subscriber_id=sub_id, purpose=purpose, version=version, issued_at=issued)


class TokenExpired(TokenError):
    """A genuine token whose time has passed (a confirmation link older than its lifetime)."""

    def __init__(self, claims: Claims):
        super().__init__("token expired")
        self.claims = claims


def check_fresh(claims: Claims, now: datetime, ttl: timedelta) -> Claims:
    """Raise TokenExpired when a token that carries an issue time is older than `ttl`."""
    if claims.issued_at is None or now - claims.issued_at > ttl:
        raise TokenExpired(claims)
    return claims
