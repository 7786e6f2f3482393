"""The operators' audit log: every action that changes a person, a listing or a list entry, kept for review.

Commands call `record` in the same transaction as the change, so an entry exists exactly when the change does.
A person who is gone (removed, or on the do-not-contact list) is named by `person_ref`, a keyed hash of the
address: the log can still answer "who removed ana@example.com?" (`find` hashes the question the same way)
without keeping the address itself.
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import os
from datetime import datetime
from typing import Iterable

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from .models import AuditEntry

HASH_PREFIX = "hash:"


def actor() -> str:
    """Who is acting: DIGEST_OPERATOR when set (a shared host, a CI job), else the operating-system user."""
    name = os.environ.get("DIGEST_OPERATOR", "").strip()
    if name:
        return name[:100]
    try:
        return getpass.getuser()[:100]
    except (KeyError, OSError):
        return "unknown"


def person_ref(secret: str, email: str) -> str:
    """The audit name of a person who must not be kept in clear: a keyed hash of the lower-cased address."""
    mac = hmac.new(secret.encode(), b"audit\0" + email.strip().lower().encode("utf-8"), hashlib.sha256)
    return HASH_PREFIX + mac.hexdigest()[:32]


def record(session: Session, now: datetime, command: str, target_kind: str, target: str,
           **detail) -> AuditEntry:
    """Add one entry to the session (the caller commits with the change it describes)."""
    entry = AuditEntry(at=now, actor=actor(), command=command, target_kind=target_kind, target=target[:320],
                       detail={k: v for k, v in detail.items() if v is not None})
    session.add(entry)
    return entry


def entries(session: Session, limit: int | None = None, target: str | None = None,
            secrets: Iterable[str] = ()) -> list[AuditEntry]:
    """Newest first; `target` matches the target as written or, for an address, its hash under any key."""
    query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    if target is not None:
        names = [target] + [person_ref(k, target) for k in secrets]
        query = query.where(or_(*(AuditEntry.target == n for n in names)))
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def entry_json(e: AuditEntry) -> dict:
    return {"at": e.at.isoformat(), "actor": e.actor, "command": e.command, "target_kind": e.target_kind,
            "target": e.target, "detail": e.detail}
