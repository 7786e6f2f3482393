"""The web app under a small bounded load through a real `digest serve` (waitress, 8 threads) on SQLite and
PostgreSQL: every request answered, every answered one-click unsubscribe stored, nothing else written, and
SQLite never "locked". The full run is `python -m benchmarks.load` (figures in benchmarks/results/load.json);
latency is reported there, never asserted."""

from __future__ import annotations

from benchmarks.load import Plan, run_load


def test_concurrent_one_click_unsubscribes_and_preference_pages_lose_nothing(db_url, tmp_path):
    plan = Plan(subscribers=200, requests=300, concurrency=16, threads=8)
    result = run_load(db_url, plan, tmp_path / "load")
    assert (result["requests"], result["not_sent"]) == (300, 0)
    assert min(result["by_kind"].values()) > 0
    assert (result["errors"], result["error_statuses"]) == (0, [])
    assert result["unsubscribed_confirmed"] > 0
    assert (result["lost_writes"], result["stray_writes"]) == (0, 0)
    assert result["unsubscribed_at_set"] == result["unsubscribed_confirmed"]
    assert result["server_problems"] == {"database is locked": 0, "Traceback": 0, "unhandled error": 0}
    if result["database"] == "sqlite":
        assert (result["journal_mode"], result["locked_after"]) == ("wal", False)
