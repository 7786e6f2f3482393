"""Mail that `digest serve` sends (confirmations) shows in the outbox's index, with no run to close the outbox."""

from __future__ import annotations

import time
import urllib.parse
import urllib.request

import pytest

from ..conftest import fresh_database
from ..support.outbox_pages import assert_index_matches_disk, folders


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path, sqlite_template):
    """Both databases here (no browser, so this costs little)."""
    return fresh_database(request.param, request, tmp_path, sqlite_template)


def _sign_up(base: str, address: str) -> None:
    body = urllib.parse.urlencode({"email": address, "timezone": "UTC"}).encode()
    request = urllib.request.Request(f"{base}/subscribe", data=body, method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded", "Origin": base})
    with urllib.request.urlopen(request, timeout=10) as r:
        assert r.status == 200


def _index_lists(outbox, n: int) -> bool:
    try:
        return sum(count for _name, count, _page in folders(outbox)) == n
    except FileNotFoundError:
        return False


def test_confirmations_sent_by_the_server_are_in_the_index(server, settings):
    for address in ("ana@example.com", "bo@example.com"):
        _sign_up(server, address)
    deadline = time.monotonic() + 10  # the mail leaves after the answer
    while not _index_lists(settings.outbox_dir, 2) and time.monotonic() < deadline:
        time.sleep(0.05)

    listed = assert_index_matches_disk(settings.outbox_dir)
    assert sorted(row["to"] for row in listed.values()) == ["ana@example.com", "bo@example.com"]
    assert [name for name, _count, _page in folders(settings.outbox_dir)] == ["confirm"]
