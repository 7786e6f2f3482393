"""`digest audit`: every operator action that changes a person is logged; a removed person only as a keyed hash."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from .support.cli import digest, json_lines


def test_update_revoke_and_remove_are_audited_and_the_removed_address_is_not_kept(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("DIGEST_OPERATOR", "ops-rosa")
    assert digest(db_url, tmp_path, "subscribers", "add", "ana@example.com", "--confirmed").exit_code == 0
    assert digest(db_url, tmp_path, "subscribers", "update", "ana@example.com", "--level", "senior").exit_code == 0
    assert digest(db_url, tmp_path, "subscribers", "update", "ana@example.com", "--level", "senior").exit_code == 0
    assert digest(db_url, tmp_path, "subscribers", "revoke-links", "ana@example.com").exit_code == 0
    assert digest(db_url, tmp_path, "subscribers", "remove", "ana@example.com").exit_code == 0

    entries = json_lines(digest(db_url, tmp_path, "audit", "--json").stdout)
    # Newest first; the second update changed nothing and is not an action.
    assert [e["command"] for e in entries] == ["subscribers remove", "subscribers revoke-links", "subscribers update"]
    assert {e["actor"] for e in entries} == {"ops-rosa"}
    assert entries[2]["detail"] == {"changed": ["levels"]}
    removal = entries[0]
    assert removal["target"].startswith("hash:") and "ana" not in removal["target"]

    # The address the operator asks about finds the removal, though only its hash is stored.
    found = json_lines(digest(db_url, tmp_path, "audit", "--json", "--target", "ANA@example.com").stdout)
    assert [e["command"] for e in found] == ["subscribers remove"]
    with create_engine(db_url).connect() as c:
        targets = c.execute(text("SELECT target FROM audit_log WHERE command = 'subscribers remove'")).scalars().all()
    assert targets == [removal["target"]]


def test_audit_when_nothing_was_done_says_so(db_url, tmp_path):
    result = digest(db_url, tmp_path, "audit")
    assert result.exit_code == 0 and result.stdout == "no audited actions\n"
