"""How close the SES transport's pacing gets to the configured rate, on the real clock.

The SES client is a stand-in that answers at once (so only our pacing is measured); one run per rate,
with 1 thread and with 4 threads sharing the process's limiter, as worker threads would.

    .venv/bin/python benchmarks/ses_pacing.py            # prints a table and writes benchmarks/results/ses_pacing.json
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from digest.carriers.ses import RateLimiter, SesTransport

RATES = (14.0, 50.0, 200.0)
SECONDS = 3.0


class InstantSes:
    """Accepts every message immediately and records when."""

    def __init__(self):
        self.at: list[float] = []
        self.lock = threading.Lock()

    def send_email(self, **_kwargs):
        with self.lock:
            self.at.append(time.monotonic())
            return {"MessageId": f"bench-{len(self.at)}"}


def measure(rate: float, threads: int) -> dict:
    client = InstantSes()
    transport = SesTransport(client, "digest@example.com", RateLimiter(rate))
    n = int(rate * SECONDS)
    per_thread = n // threads

    def work():
        for i in range(per_thread):
            transport.send(f"bench/{i}", "reader@example.com", b"Subject: x\r\n\r\nx\r\n", {"run": "bench"})

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    at = sorted(client.at)
    gaps = [b - a for a, b in zip(at, at[1:])]
    achieved = (len(at) - 1) / (at[-1] - at[0])
    return {"rate": rate, "threads": threads, "messages": len(at), "achieved_per_s": round(achieved, 2),
            "achieved_pct": round(100 * achieved / rate, 1), "min_gap_ms": round(1000 * min(gaps), 2),
            "target_gap_ms": round(1000 / rate, 2)}


def main() -> None:
    rows = [measure(rate, threads) for rate in RATES for threads in (1, 4)]
    print(f"{'rate/s':>7} {'threads':>7} {'sent':>5} {'achieved/s':>10} {'% of rate':>9} {'min gap ms':>10} {'1/rate ms':>9}")
    for r in rows:
        print(f"{r['rate']:>7} {r['threads']:>7} {r['messages']:>5} {r['achieved_per_s']:>10} {r['achieved_pct']:>9} "
              f"{r['min_gap_ms']:>10} {r['target_gap_ms']:>9}")
    out = Path(__file__).parent / "results" / "ses_pacing.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
