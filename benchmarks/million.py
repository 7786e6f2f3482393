"""The million mode: `digest run --dry-run --workers 2` on 1,000,000 subscribers and 5,000 listings.

    .venv/bin/python -m benchmarks.million                              # SQLite and PostgreSQL, 1,000,000
    .venv/bin/python -m benchmarks.million --subscribers 100000 --backends sqlite

The real command line in a subprocess (DIGEST_DATABASE_URL set, stderr not a terminal so no progress bar),
watched through /proc: wall time, CPU and peak RSS of every process it starts (the planner and its spawned
workers), plus CPU of the PostgreSQL server during the run. Databases are generated once and reused:
SQLite files and a PostgreSQL data directory (the test suite's throwaway server, `tests.pg.Server`, kept)
under `benchmarks/data/`. Results are merged into `benchmarks/results/million.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from digest.db import head_revision

from .generate import NOW, Spec, ensure_sqlite, generate
from .measure import TreeSampler

HERE = Path(__file__).resolve().parent
DIGEST = Path(sys.executable).with_name("digest")
SUMMARY = re.compile(r"due (\d+), would send (\d+), skipped-empty (\d+), failed (\d+)")


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_cli(url: str, workers: int, now: datetime = NOW, server_pid: int | None = None) -> dict:
    """Run `digest run --dry-run` against `url`; wall, CPU and peak RSS per process, progress every 30 s."""
    env = os.environ | {"DIGEST_DATABASE_URL": url, "DIGEST_TRANSPORT": "outbox"}
    cmd = [str(DIGEST), "run", "--dry-run", "--workers", str(workers), "--now", now.isoformat()]
    server = TreeSampler(server_pid) if server_pid else None  # its backends come and go with the run
    if server:
        server.sample()
        server_before = {pid: p.get("cpu_s", 0) for pid, p in server.procs.items()}
        server.start()
    with tempfile.TemporaryFile("w+") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tempfile.gettempdir())
        sampler = TreeSampler(proc.pid)
        sampler.start()
        shown = started
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.2)
            if time.perf_counter() - shown >= 30:
                shown = time.perf_counter()
                cpu = sum(p.get("cpu_s", 0) for p in sampler.procs.values())
                _say(f"  {shown - started:5.0f} s: {len(sampler.procs)} processes, {cpu:.0f} CPU s so far")
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        procs = sampler.stop()
        out.seek(0)
        output = out.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{output[-2000:]}")
    m = SUMMARY.search(output)
    result = {
        "command": " ".join(["digest"] + cmd[1:]), "workers": workers, "wall_s": round(wall, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),  # the command and every process it reaped
        "peak_rss_mb_max": max(p["peak_rss_mb"] for p in procs),
        "processes": [{"role": _role(p["cmd"]), **{k: p[k] for k in ("pid", "cpu_s", "peak_rss_mb")}} for p in procs],
        "summary": output.strip().splitlines()[-1] if output.strip() else "",
    }
    if m:
        result |= dict(zip(("due", "sent", "skipped_empty", "failed"), map(int, m.groups())))
        result["digests_per_s"] = round(result["sent"] / wall, 1)
    if server:
        result["database_server_cpu_s"] = round(
            sum(p.get("cpu_s", 0) - server_before.get(p["pid"], 0) for p in server.stop()), 1)
    return result


def _role(cmd: str) -> str:
    if "multiprocessing.resource_tracker" in cmd:
        return "resource tracker"
    if "multiprocessing.spawn" in cmd or "spawn_main" in cmd:
        return "worker"
    return "digest run (planner)" if "digest" in cmd else cmd[:60]


class KeptServer:
    """tests.pg.Server with its data directory kept between runs, so a generated database is reused."""

    def __init__(self, directory: Path):
        sys.path.insert(0, str(HERE.parent))
        from tests import pg

        self.server = pg.Server()
        shutil.rmtree(self.server.dir, ignore_errors=True)
        self.server.dir = directory
        marker = directory / "generated.json"
        # A data directory made before a schema migration is thrown away and generated again.
        current = marker.exists() and json.loads(marker.read_text()).get("schema") == head_revision()
        self.fresh = not (directory / "data" / "PG_VERSION").exists() or not current

    def start(self) -> str:
        s = self.server
        if self.fresh:
            shutil.rmtree(s.dir, ignore_errors=True)
            s.dir.mkdir(parents=True)
            return s.start()
        if s.as_root:
            shutil.chown(s.dir, "postgres", "postgres")
        s.pg_ctl("start", "-w", "-t", "60", "-l", str(s.dir / "log"), "-o",
                 f"-p {s.port} -k {s.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                 "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        return f"postgresql+psycopg://postgres@127.0.0.1:{s.port}/postgres"

    def pid(self) -> int:
        return int((self.server.dir / "data" / "postmaster.pid").read_text().split()[0])

    def stop(self) -> None:
        self.server.pg_ctl("stop", "-m", "fast")  # a clean shutdown: the data directory is reused


def sqlite_case(spec: Spec, data: Path, workers: int) -> dict:
    path = data / f"bench-{spec.key()}.db"  # the same file benchmarks.run uses for this spec
    facts = ensure_sqlite(path, spec, _say)
    _say(f"sqlite: digest run --dry-run --workers {workers} over {spec.subscribers:,} subscribers …")
    return {"backend": "sqlite", "generated": facts} | run_cli(f"sqlite:///{path}", workers, spec.now)


def postgres_case(spec: Spec, data: Path, workers: int) -> dict:
    kept = KeptServer(data / f"pg-{spec.key()}")
    marker = kept.server.dir / "generated.json"
    url = kept.start()
    try:
        if kept.fresh or not marker.exists():
            _say(f"postgresql: generating {spec.subscribers:,} subscribers with COPY …")
            facts = generate(url, spec, _say) | {"schema": head_revision()}
            marker.write_text(json.dumps(facts))
        facts = json.loads(marker.read_text())
        _say(f"postgresql: digest run --dry-run --workers {workers} over {spec.subscribers:,} subscribers …")
        return {"backend": "postgresql", "generated": facts} | run_cli(url, workers, spec.now, kept.pid())
    finally:
        kept.stop()


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--subscribers", type=int, default=1_000_000)
    p.add_argument("--listings", type=int, default=5_000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--backends", default="sqlite,postgresql")
    p.add_argument("--seed", type=int, default=6)
    p.add_argument("--data", type=Path, default=HERE / "data")
    p.add_argument("--out", type=Path, default=HERE / "results" / "million.json")
    a = p.parse_args(argv)
    spec = Spec(a.subscribers, a.listings, a.seed)
    cases = {"sqlite": sqlite_case, "postgresql": postgres_case}
    results = []
    for backend in a.backends.split(","):
        r = cases[backend](spec, a.data, a.workers) | {"date": datetime.now(UTC).isoformat(timespec="seconds")}
        results.append(r)
        print(f"{backend}: {r.get('sent', '?'):,} digests in {r['wall_s']:.0f} s wall ({r.get('digests_per_s', 0):,.0f}/s), "
              f"{r['cpu_s']:.0f} CPU s, peak RSS per process: "
              + ", ".join(f"{x['role']} {x['peak_rss_mb']:.0f} MB / {x['cpu_s']:.0f} s" for x in r["processes"])
              + (f"; PostgreSQL server {r['database_server_cpu_s']:.0f} CPU s" if "database_server_cpu_s" in r else ""))
        a.out.parent.mkdir(parents=True, exist_ok=True)
        kept = json.loads(a.out.read_text()) if a.out.exists() else {}
        kept[f"{backend}-{a.subscribers}x{a.listings}-w{a.workers}"] = r
        a.out.write_text(json.dumps(kept, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
