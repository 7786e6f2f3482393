"""Write the benchmark's seeded board (`benchmarks.population`) into a database, fast, or reuse one.

    .venv/bin/python -m benchmarks.generate --subscribers 20000 --listings 1000 --db /tmp/bench.db
    .venv/bin/python -m benchmarks.generate --subscribers 1000000 --listings 5000 --url postgresql+psycopg://…

The schema comes from `digest.db.upgrade`. SQLite is written with SQLAlchemy Core executemany, one
transaction per chunk of 20,000 subscribers (about 3 minutes for 1,000,000 here); PostgreSQL with COPY
through psycopg (executemany is several times slower there). Rows are made a chunk at a time: flat memory.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from datetime import date, datetime
from pathlib import Path
from typing import Callable

from sqlalchemy import Engine, create_engine, event, insert, text

from digest import db
from digest.models import Delivery, Listing, Subscriber

from .population import NOW, Spec, listings, subscriber_chunks

__all__ = ["NOW", "Spec", "ensure_sqlite", "generate"]

TABLES = ((Listing.__table__, "listings"), (Subscriber.__table__, "subscribers"),
          (Delivery.__table__, "deliveries"))


class CoreWriter:
    """SQLAlchemy Core executemany, one transaction per chunk (SQLite, or any database)."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def write(self, table, rows: list[dict]) -> None:
        if rows:
            with self.engine.begin() as conn:
                conn.execute(insert(table), rows)

    def finish(self) -> None:
        pass


class CopyWriter:
    """PostgreSQL COPY through psycopg: column order from the table, JSON as text."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def write(self, table, rows: list[dict]) -> None:
        if not rows:
            return
        cols = [c.name for c in table.columns]
        json_cols = {c.name for c in table.columns if c.type.__class__.__name__ == "JSON"}
        raw = self.engine.raw_connection()
        try:
            with raw.cursor() as cur, cur.copy(f"COPY {table.name} ({', '.join(cols)}) FROM STDIN") as cp:
                for r in rows:
                    cp.write_row([json.dumps(r[c]) if c in json_cols else r.get(c) for c in cols])
            raw.commit()
        finally:
            raw.close()

    def finish(self) -> None:
        with self.engine.begin() as conn:  # explicit ids were written: move each sequence past them
            for table, name in TABLES:
                if "id" in table.c:
                    conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                      f"COALESCE((SELECT MAX(id) FROM {name}), 0) + 1, false)"))
            conn.execute(text("ANALYZE"))


def _fast_sqlite(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA synchronous=OFF")
    cur.execute("PRAGMA cache_size=-200000")
    cur.close()


def generate(url: str, spec: Spec, progress: Callable[[str], None] | None = None) -> dict:
    """Migrate an empty database at `url` and fill it; return counts and distribution facts."""
    say = progress or (lambda _msg: None)
    engine = db.make_engine(url)
    db.upgrade(engine)
    if engine.dialect.name == "sqlite":
        engine.dispose()
        engine = create_engine(url)
        event.listen(engine, "connect", _fast_sqlite)
    with engine.connect() as conn:
        if conn.execute(text("SELECT COUNT(*) FROM subscribers")).scalar():
            raise SystemExit(f"{engine.url.render_as_string()} already has subscribers: give an empty database")
    writer = CopyWriter(engine) if engine.dialect.name == "postgresql" else CoreWriter(engine)
    started = time.perf_counter()
    pool = listings(spec)
    writer.write(Listing.__table__, pool)
    counts = {"listings": len(pool), "subscribers": 0, "active": 0, "deliveries": 0, "history_listings": 0}
    signatures: dict[tuple, int] = {}
    for subs, deliveries in subscriber_chunks(spec, pool):
        writer.write(Subscriber.__table__, subs)
        writer.write(Delivery.__table__, deliveries)
        counts["subscribers"] += len(subs)
        counts["active"] += sum(s["status"] == "active" for s in subs)
        counts["deliveries"] += len(deliveries)
        counts["history_listings"] += sum(len(d["listings"]) for d in deliveries)
        for s in subs:
            sig = (tuple(s["stack"]), tuple(s["levels"]), tuple(s["regions"]), s["min_salary"], s["hide_no_salary"])
            signatures[sig] = signatures.get(sig, 0) + 1
        elapsed = time.perf_counter() - started
        say(f"  generated {counts['subscribers']:,}/{spec.subscribers:,} subscribers "
            f"({counts['history_listings']:,} listings in past digests) in {elapsed:.0f} s")
    writer.finish()
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
            conn.execute(text("ANALYZE"))
    engine.dispose()
    sizes = sorted(signatures.values(), reverse=True)
    counts |= {
        "distinct_preferences": len(sizes),
        "top10_preferences_share": round(sum(sizes[:10]) / max(1, counts["subscribers"]), 3),
        "singleton_preferences": sum(1 for n in sizes if n == 1),
        "seconds": round(time.perf_counter() - started, 1),
    }
    return counts


def ensure_sqlite(path: Path, spec: Spec, progress: Callable[[str], None] | None = print) -> dict:
    """Generate `path` once for this spec and reuse it after (a finished file has a .json beside it)."""
    path = Path(path)
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        facts = json.loads(meta.read_text())
        if facts.get("spec") == _spec_json(spec) and facts.get("schema") == db.head_revision():
            return facts
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    for p in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm"), path, meta):
        p.unlink(missing_ok=True)
    if progress:
        progress(f"generating {path.name} ({spec.subscribers:,} subscribers, {spec.listings:,} listings)")
    facts = generate(f"sqlite:///{partial}", spec, progress) | {"spec": _spec_json(spec), "schema": db.head_revision()}
    partial.rename(path)
    meta.write_text(json.dumps(facts, indent=2))
    return facts


def _spec_json(spec: Spec) -> dict:
    return {k: v.isoformat() if isinstance(v, (datetime, date)) else v for k, v in asdict(spec).items()}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="example: python -m benchmarks.generate --subscribers 20000 --listings 1000 --db /tmp/b.db")
    p.add_argument("--subscribers", type=int, required=True)
    p.add_argument("--listings", type=int, required=True)
    p.add_argument("--seed", type=int, default=Spec.seed)
    p.add_argument("--history", type=float, default=Spec.history, help="share of active subscribers with a past digest")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--db", type=Path, help="SQLite file (reused when it already holds this spec)")
    where.add_argument("--url", help="an empty database URL, e.g. postgresql+psycopg://…")
    a = p.parse_args(argv)
    spec = Spec(a.subscribers, a.listings, a.seed, history=a.history)
    facts = ensure_sqlite(a.db, spec) if a.db else generate(a.url, spec, print)
    print(json.dumps(facts, indent=2, default=str))


if __name__ == "__main__":
    main(sys.argv[1:])
