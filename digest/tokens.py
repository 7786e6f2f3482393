"""Signed, short, revocable tokens for the links in every email."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .errors import DigestError

PURPOSES = {"unsubscribe": 1, "preferences": 2, "confirm": 3}
# Feedback links on a digest's cards also name a listing (its primary key). They share the purpose numbers (so
# no token is good for two purposes) but are format 2, laid out more tightly: a digest carries two per card, so
# their length counts (38 characters, not 43). Both ids are 32-bit columns. A token of one format never verifies
# as the other (the format byte is under the MAC and the lengths differ), and old links keep working.
LISTING_PURPOSES = {"not_for_me": 4, "hide_company": 5}
_LAYOUT = struct.Struct(">BBIQHI")  # format, purpose, key id, subscriber id, token version, issued (minutes)
_FORMAT = 1
_LISTING_LAYOUT = struct.Struct(">BBIIHI")  # format, purpose, key id, subscriber id, token version, listing id
_LISTING_FORMAT = 2
# Confirmation links name the sign-up they confirm (its stored preferences), so the latest sign-up decides, not the
# first. Format 1 confirmation links (no sign-up) keep working for the subscriber row as it is.
_CONFIRM_LAYOUT = struct.Struct(">BBIQHII")  # format 1's fields, then the sign-up id
_CONFIRM_FORMAT = 3
_MAC_BYTES = 12


class TokenError(DigestError):
    """A token is malformed, forged, revoked, expired or meant for something else."""


@dataclass(frozen=True, slots=True)
class Claims:
    subscriber_id: int
    purpose: str
    version: int
    issued_at: datetime | None
    signup_id: int | None = None  # confirmation links since sign-ups are stored: the sign-up they confirm


def key_id(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big")


def _mac(key: str, body: bytes) -> bytes:
    """HMAC-SHA256 (RFC 2104) from the key's padded states, hashed once per process: a digest signs 30 tokens and
    more, and copying two hash states costs less than half of what hmac.digest spends on setting the key up."""
    return _hmac(*_pads(key), body)


def _hmac(inner, outer, body: bytes) -> bytes:
    h = inner.copy()
    h.update(body)
    o = outer.copy()
    o.update(h.digest())
    return o.digest()[:_MAC_BYTES]


_IPAD, _OPAD = bytes(b ^ 0x36 for b in range(256)), bytes(b ^ 0x5C for b in range(256))


@functools.lru_cache(maxsize=16)
def _pads(key: str):
    """SHA-256 states after the key XOR ipad and XOR opad blocks (a key longer than a block is hashed first)."""
    raw = key.encode()
    if len(raw) > 64:
        raw = hashlib.sha256(raw).digest()
    raw = raw.ljust(64, b"\0")
    return hashlib.sha256(raw.translate(_IPAD)), hashlib.sha256(raw.translate(_OPAD))


def sign(keys: tuple[str, ...], purpose: str, subscriber_id: int, version: int,
         issued_at: datetime | None = None, signup_id: int | None = None) -> str:
    """Make a URL-safe token for one subscriber and purpose, signed with the first key (a confirmation may name
    the sign-up it confirms)."""
    minutes = int(issued_at.timestamp() // 60) if issued_at else 0
    if signup_id is not None:
        if purpose != "confirm":
            raise ValueError("only confirmation links name a sign-up")
        return _seal(keys[0], _CONFIRM_LAYOUT, _CONFIRM_FORMAT, PURPOSES[purpose], subscriber_id, version, minutes,
                     signup_id)
    return _seal(keys[0], _LAYOUT, _FORMAT, PURPOSES[purpose], subscriber_id, version, minutes)


def sign_listing(keys: tuple[str, ...], purpose: str, subscriber_id: int, version: int, listing_id: int) -> str:
    """Make a feedback token bound to one subscriber, one listing and one purpose ("not_for_me", ...); a digest's
    come from `feedback_tokens`, all at once."""
    return _seal(keys[0], _LISTING_LAYOUT, _LISTING_FORMAT, LISTING_PURPOSES[purpose], subscriber_id, version,
                 listing_id)


def feedback_tokens(keys: tuple[str, ...], subscriber_id: int, version: int, listing_ids: list[int]) -> list[str]:
    """Both feedback tokens of each listing ("not_for_me", then "hide_company"), as `sign_listing` makes them, for a
    whole digest at once: one call, one base64 pass. A token is 28 octets; two zero octets pad each to 30, which
    base64 writes as 40 characters whose first 38 are the token's own encoding."""
    key = keys[0]
    kid, (inner, outer), pack = _key_id(key), _pads(key), _LISTING_LAYOUT.pack
    codes = LISTING_PURPOSES["not_for_me"], LISTING_PURPOSES["hide_company"]
    raw = []
    for listing_id in listing_ids:
        for code in codes:
            body = pack(_LISTING_FORMAT, code, kid, subscriber_id, version, listing_id)
            raw.append(body + _hmac(inner, outer, body) + b"\0\0")
    text = binascii.b2a_base64(b"".join(raw), newline=False).translate(_URLSAFE).decode()
    return [text[i : i + _FEEDBACK_CHARS] for i in range(0, len(text), _FEEDBACK_CHARS + 2)]


_FEEDBACK_CHARS = 38  # a feedback token's length, unpadded: 28 octets
assert (_LISTING_LAYOUT.size + _MAC_BYTES + 2) * 4 // 3 == _FEEDBACK_CHARS + 2


def _seal(key: str, layout: struct.Struct, fmt: int, code: int, subscriber_id: int, version: int, *rest: int) -> str:
    body = layout.pack(fmt, code, _key_id(key), subscriber_id, version, *rest)
    return _encode(body + _mac(key, body))


_key_id = functools.lru_cache(maxsize=16)(key_id)  # the signing key's id, hashed once per process


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _encode(raw: bytes) -> str:
    """URL-safe base64 without padding (base64.urlsafe_b64encode, one call layer less)."""
    return binascii.b2a_base64(raw, newline=False).translate(_URLSAFE).rstrip(b"=").decode()


def verify(keys: tuple[str, ...], token: str, purpose: str) -> Claims:
    """Check a token against every configured key (rotation) and return what it says."""
    signup_id = None
    if purpose == "confirm" and len(_decode(token)) == _CONFIRM_LAYOUT.size + _MAC_BYTES:
        sub_id, version, minutes, signup_id = _open(keys, token, _CONFIRM_LAYOUT, _CONFIRM_FORMAT, PURPOSES[purpose])
    else:
        sub_id, version, minutes = _open(keys, token, _LAYOUT, _FORMAT, PURPOSES[purpose])
    issued = datetime.fromtimestamp(minutes * 60, UTC) if minutes else None
    return Claims(subscriber_id=sub_id, purpose=purpose, version=version, issued_at=issued, signup_id=signup_id)


@dataclass(frozen=True, slots=True)
class ListingClaims:
    subscriber_id: int
    purpose: str
    version: int
    listing_id: int


def verify_listing(keys: tuple[str, ...], token: str) -> ListingClaims:
    """Check a feedback token (any of LISTING_PURPOSES) and return whom, which listing and what it is for."""
    code = _purpose_code(token)
    purpose = next((p for p, c in LISTING_PURPOSES.items() if c == code), None)
    if purpose is None:
        raise TokenError("not a feedback token")
    sub_id, version, listing_id = _open(keys, token, _LISTING_LAYOUT, _LISTING_FORMAT, code)
    return ListingClaims(subscriber_id=sub_id, purpose=purpose, version=version, listing_id=listing_id)


def _purpose_code(token: str) -> int | None:
    """The purpose byte a token claims (unchecked: _open checks it under the MAC)."""
    raw = _decode(token)
    return raw[1] if len(raw) > 1 else None


def _decode(token: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, TypeError) as e:
        raise TokenError("malformed token") from e


def _open(keys: tuple[str, ...], token: str, layout: struct.Struct, fmt_wanted: int,
          code_wanted: int) -> tuple[int, ...]:
    """Verify a token's spelling, key, MAC, format and purpose; return (subscriber id, version, the rest...)."""
    raw = _decode(token)
    if len(raw) != layout.size + _MAC_BYTES or _encode(raw) != token:
        raise TokenError("malformed token")  # one spelling per token: no padding, no '+'/'/', no spare bits
    body, mac = raw[: layout.size], raw[layout.size :]
    fmt, code, kid, *fields = layout.unpack(body)
    key = next((k for k in keys if key_id(k) == kid), None)
    if fmt != fmt_wanted or key is None or not hmac.compare_digest(mac, _mac(key, body)):
        raise TokenError("invalid token")
    if code != code_wanted:
        raise TokenError("token for another purpose")
    return tuple(fields)


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
