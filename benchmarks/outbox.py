"""The outbox benchmark (issue 12): peak RSS of a whole `digest run` on the outbox, and the cost of closing it.

    .venv/bin/python -m benchmarks.outbox                          # 2,000 / 20,000 / 100,000 subscribers, ≈ 10 min
    .venv/bin/python -m benchmarks.outbox --code /tmp/before --label c31e296 --out benchmarks/results/outbox-c31e296.json

RSS: the real CLI (`digest run --now T`, one process, production settings, the default outbox transport) in
a child process on a copy of the generated database, the outbox in a fresh temporary folder; peak RSS is the
child's own high-water mark (VmHWM, written as it exits), CPU comes from `wait4`. Close: an outbox with H weeks
of history (2,000 small messages each, written through `OutboxTransport` and closed once), then one more week
written and closed;
that close is timed (wall and CPU) and the files it opens are counted. `--code DIR` runs
another checkout's `digest` package (e.g. `git archive c31e296 | tar -x -C /tmp/before`) with this
benchmark's data, for a before/after pair. Writes `benchmarks/results/outbox.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SIZES = (2_000, 20_000, 100_000)
LISTINGS = 1_000
HISTORY = (1, 10, 40)  # weeks already in the outbox when one more week is closed
WEEK = 2_000  # messages per week in the close benchmark


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _env(code: Path) -> dict:
    return os.environ | {"PYTHONPATH": str(code)}


# The child writes its own peak RSS (VmHWM) as it exits. Not wait4's ru_maxrss: Linux carries the forking
# process's high-water mark into the child's at exec, so a benchmark process that had just generated a big
# database reported 168 MB at 20,000 and 250 MB at 100,000 for runs whose own peak was 110 MB.
_CHILD = """
import atexit, sys
def peak(path=sys.argv.pop(1)):
    with open("/proc/self/status") as status:
        kb = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(path, "w") as out:
        out.write(kb)
atexit.register(peak)
from digest.cli import main
sys.argv[0] = "digest"
main()
"""


def measure_run(db_path: Path, subscribers: int, code: Path) -> dict:
    """`digest run` over the whole database in a child process on the outbox; its peak RSS, CPU and wall."""
    from .generate import NOW

    with tempfile.TemporaryDirectory(prefix="jobdigest-outbox-") as tmp:
        work = Path(tmp)
        shutil.copy(db_path, work / "run.db")
        env = _env(code) | {"DIGEST_DATABASE_URL": f"sqlite:///{work / 'run.db'}", "DIGEST_TRANSPORT": "outbox",
                            "DIGEST_OUTBOX_DIR": str(work / "outbox")}
        hwm = work / "peak"
        cmd = [sys.executable, "-c", _CHILD, str(hwm), "run", "--now", NOW.isoformat()]
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = proc.stdout.read().decode()
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status):
            raise RuntimeError(f"digest run exited {os.waitstatus_to_exitcode(status)}:\n{out[-2000:]}")
        messages = sum(1 for _ in (work / "outbox").rglob("*.eml"))
        peak_kb = int(hwm.read_text())
    summary = next((line for line in out.splitlines() if line.startswith("run ")), "")
    return {"subscribers": subscribers, "peak_rss_mb": round(peak_kb / 1024, 1),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 1), "wall_s": round(wall, 1), "messages": messages,
            "summary": summary}


def measure_close(history: int, code: Path) -> dict:
    """Close time of one more week on an outbox that already holds `history` weeks (in a child process)."""
    # Run as a script (not -m), so the `digest` on --code's path is the one imported.
    out = subprocess.run([sys.executable, __file__, "--child-close", str(history)], cwd=tempfile.gettempdir(),
                         env=_env(code), capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _message(week: str, n: int) -> bytes:
    """A small multipart message with the headers the index lists (the index never reads bodies)."""
    return (f"From: Backend Jobs Weekly <digest@example.com>\r\nTo: person{n}@example.com\r\n"
            f"Subject: 12 new backend jobs for you ({week})\r\nDate: Mon, 23 Nov 2026 08:00:00 +0000\r\n"
            f"Message-ID: <{week}.{n}@example.com>\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/alternative; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n'
            f"hello {n}\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>hello {n}</p>\r\n--b--\r\n").encode()


_OPENS = [0]  # files opened by this process (the close child counts them)


def _write_week(transport, w: int) -> None:
    week = f"{2026 + w // 52}-W{w % 52 + 1:02d}"
    for n in range(1, WEEK + 1):
        transport.send(f"{week}/{n}", f"person{n}@example.com", _message(week, n))


def child_close(history: int) -> None:
    """Entry point of the close child: write `history` weeks (closing each), then time one more week's close."""
    import builtins
    import io

    from digest.carriers.outbox import OutboxTransport

    for mod, name in ((builtins, "open"), (io, "open"), (os, "open")):  # count every file the close opens
        real = getattr(mod, name)

        def counting(*a, _real=real, **k):
            _OPENS[0] += 1
            return _real(*a, **k)

        setattr(mod, name, counting)
    with tempfile.TemporaryDirectory(prefix="jobdigest-close-") as tmp:
        outbox = Path(tmp)
        t = OutboxTransport(outbox)
        for w in range(history):  # the history, indexed by one close (as the last run left it)
            _write_week(t, w)
        t.close()
        t = OutboxTransport(outbox)  # the next run: one more week
        _write_week(t, history)
        opens, c0, w0 = _OPENS[0], time.process_time(), time.perf_counter()
        t.close()
        cpu, wall, opens = time.process_time() - c0, time.perf_counter() - w0, _OPENS[0] - opens
    print(json.dumps({"history_weeks": history, "messages_before": history * WEEK, "week": WEEK,
                      "close_wall_s": round(wall, 3), "close_cpu_s": round(cpu, 3), "files_opened": opens}))


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="example: python -m benchmarks.outbox --sizes 2000 20000")
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    p.add_argument("--history", type=int, nargs="*", default=list(HISTORY), help="weeks of history for the close timings")
    p.add_argument("--code", type=Path, default=ROOT, help="the checkout whose digest package runs (default: this one)")
    p.add_argument("--label", default="", help="what --code is (e.g. a commit), kept in the results")
    p.add_argument("--data", type=Path, default=HERE / "data")
    p.add_argument("--out", type=Path, default=HERE / "results" / "outbox.json")
    p.add_argument("--child-close", type=int, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child_close is not None:
        child_close(a.child_close)
        return {}
    from .generate import Spec, ensure_sqlite
    from .run import machine

    result = {"code": str(a.code), "label": a.label or machine()["commit"], "machine": machine(),
              "command": "python -m benchmarks.outbox " + " ".join(argv if argv is not None else sys.argv[1:]),
              "runs": [], "close": []}
    for size in a.sizes:
        path = a.data / f"bench-{Spec(size, LISTINGS).key()}.db"
        ensure_sqlite(path, Spec(size, LISTINGS), _say)
        _say(f"digest run on the outbox, {size:,} subscribers …")
        result["runs"].append(r := measure_run(path, size, a.code))
        _say(f"  peak RSS {r['peak_rss_mb']} MB, {r['messages']:,} messages, {r['cpu_s']} CPU s, {r['wall_s']} s")
    for weeks in a.history:
        _say(f"close after {weeks} weeks of {WEEK:,} messages …")
        result["close"].append(c := measure_close(weeks, a.code))
        _say(f"  {c['close_wall_s']} s wall, {c['close_cpu_s']} s CPU, {c['files_opened']:,} files opened")
    if result["runs"]:
        rss = [r["peak_rss_mb"] for r in result["runs"]]
        result["rss_growth"] = round(rss[-1] / rss[0], 3)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2) + "\n")
    _say(f"wrote {a.out}")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
