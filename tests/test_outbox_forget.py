"""Erasing a person from the outbox: every message made for them under any key, and nobody else's."""

from __future__ import annotations

from datetime import UTC, datetime

from digest import outbox_keys
from digest.carriers.outbox import OutboxTransport

from .support.outbox_pages import assert_index_matches_disk
from .support.outbox_pages import _message

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _keys(sid: int) -> list[str]:
    return [outbox_keys.digest_key("2026-W48", sid), outbox_keys.digest_key("2026-W49", sid),
            outbox_keys.test_key("2026-W48", sid, AT), outbox_keys.notice_key("confirm", sid, AT),
            outbox_keys.notice_key("links", sid, AT)]


def test_forget_erases_every_kind_of_message_to_one_person_and_keeps_the_index_true(tmp_path):
    outbox = OutboxTransport(tmp_path / "outbox")
    # 1, 12 and 21 share digits: a pattern that matched on a prefix or suffix would take the wrong person's mail.
    for sid in (1, 12, 21):
        for key in _keys(sid):
            outbox.send(key, f"p{sid}@example.com", _message(key, to=f"p{sid}@example.com"))
    outbox.close()
    assert len(assert_index_matches_disk(outbox.directory)) == 15

    assert outbox.forget(1) == 10  # five messages, each an .eml and an .html
    left = {p.relative_to(outbox.directory).as_posix() for p in outbox.directory.glob("*/*.eml")}
    assert left == {f"{key}.eml" for sid in (12, 21) for key in _keys(sid)}
    assert set(assert_index_matches_disk(outbox.directory)) == {key for sid in (12, 21) for key in _keys(sid)}
    assert outbox.forget(1) == 0 and outbox.forget(12, 21) == 20
    assert assert_index_matches_disk(outbox.directory) == {}


def test_forget_without_an_outbox_creates_nothing(tmp_path):
    assert OutboxTransport(tmp_path / "none").forget(1, 2) == 0
    assert not (tmp_path / "none").exists()
