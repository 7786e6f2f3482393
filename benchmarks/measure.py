"""Measuring from outside: stage timers wrapped around the pipeline's functions, a byte-counting
transport, strict parsing of a sample, and per-process CPU and peak memory read from /proc.

Nothing here changes what the pipeline does: a wrapper calls the original and adds its CPU time to a stage.
A function that a later refactor renames or removes is reported as missing and its time lands in "other",
so the totals (and digests per second) stay right whatever the pipeline looks like inside.
"""

from __future__ import annotations

import email
import email.policy
import importlib
import os
import re
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator, Mapping

# (stage, module, attribute path) of the real pipeline, in the order a digest meets them.
REAL_STAGES = (
    ("select", "digest.run", "plan"),
    ("select", "digest.run", "recipients"),
    ("select", "digest.ledger", "rows_for"),
    ("select", "digest.ledger", "previous_cutoffs"),
    ("select", "digest.ledger", "sent_history"),
    ("select", "digest.listing_feedback", "exclusions"),
    ("index build (once)", "digest.run", "load_index"),
    ("match", "digest.matching", "ListingIndex.match"),
    ("match", "digest.matching", "ListingIndex.history"),
    ("match", "digest.matching", "ListingIndex.excluded"),
    ("render html", "digest.render", "Renderer.html"),
    ("render html", "digest.render", "Renderer.html_page"),
    ("render html", "digest.render", "Renderer._cards"),  # each listing's card, rendered once per run
    ("render text", "digest.render", "Renderer.text"),
    ("render text", "digest.render", "Renderer.text_pieces"),
    ("build message", "digest.compose", "build_message"),  # the name compose.py calls
    ("build message", "digest.compose", "Composer.text_body"),  # the text part's quoted-printable
    ("compose (content, links, headers)", "digest.compose", "Composer.compose"),  # minus the three above
    ("ledger write", "digest.ledger", "claim"),
    ("ledger write", "digest.ledger", "finish"),
    ("ledger write", "digest.ledger", "release"),
    ("ledger write", "sqlalchemy.orm", "Session.commit"),  # the run commits claims and outcomes itself
)
STAGE_ORDER = ("select", "match", "render html", "render text", "build message",
               "compose (content, links, headers)", "ledger write", "transport", "index build (once)", "other")


@dataclass
class StageTimes:
    """Exclusive CPU seconds and calls per stage (a wrapped call inside another counts only once)."""

    cpu: dict[str, float] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    _stack: list[float] = field(default_factory=list)

    def timed(self, stage: str, fn):
        clock = time.process_time
        stack = self._stack
        cpu, calls = self.cpu, self.calls
        cpu.setdefault(stage, 0.0)
        calls.setdefault(stage, 0)

        def wrapper(*args, **kwargs):
            t0 = clock()
            stack.append(0.0)
            try:
                return fn(*args, **kwargs)
            finally:
                inner = stack.pop()
                dt = clock() - t0
                cpu[stage] += dt - inner
                calls[stage] += 1
                if stack:
                    stack[-1] += dt

        wrapper.__wrapped__ = fn
        return wrapper


@contextmanager
def stage_timers(targets=REAL_STAGES) -> Iterator[StageTimes]:
    """Wrap each target for the duration of the block; restore the originals after."""
    times = StageTimes()
    undo = []
    try:
        for stage, module, path in targets:
            owner = importlib.import_module(module)
            *parents, attr = path.split(".")
            for p in parents:
                owner = getattr(owner, p, None)
            original = owner.__dict__.get(attr) if owner is not None else None
            if original is None or not callable(original):
                times.missing.append(f"{module}.{path}")
                continue
            setattr(owner, attr, times.timed(stage, original))
            undo.append((owner, attr, original))
        yield times
    finally:
        for owner, attr, original in reversed(undo):
            setattr(owner, attr, original)


@dataclass
class CountingTransport:
    """A null transport keeping only counts and bytes, plus every k-th message for a strict parse later."""

    keep_every: int = 0
    name: str = "bench-null"
    record_batch: int = 200  # recorded like the outbox, a page at a time (a real carrier: each message)
    messages: int = 0
    bytes: int = 0
    sample: list[bytes] = field(default_factory=list)

    def send(self, key: str, to: str, raw: bytes, tags: Mapping[str, str] | None = None) -> str:
        self.messages += 1
        self.bytes += len(raw)
        if self.keep_every and (self.messages - 1) % self.keep_every == 0:
            self.sample.append(raw)
        return key

    def close(self) -> None:
        pass


STRICT = email.policy.default.clone(raise_on_defect=True)
LISTING_LINK = re.compile(r"https://jobs\.example\.com/([A-Za-z0-9._-]+)(?=[\s>)\]]|$)")


def listing_ids(msg: email.message.EmailMessage) -> list[str]:
    """The listing ids a digest links to, in order, read from its text part."""
    seen: list[str] = []
    for m in LISTING_LINK.finditer(msg.get_body(("plain",)).get_content()):
        if m.group(1) not in seen:
            seen.append(m.group(1))
    return seen


def check_sample(sample: list[bytes]) -> dict:
    """Parse each message strictly (any defect raises) and fit its size against its number of listings."""
    sizes, counts = [], []
    for raw in sample:
        msg = email.message_from_bytes(raw, policy=STRICT)
        for part in ("plain", "html"):
            body = msg.get_body((part,))
            if body is None or not body.get_content():
                raise AssertionError(f"a sampled message has no {part} part")
        for h in ("From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe"):
            if not msg[h]:
                raise AssertionError(f"a sampled message has no {h}")
        sizes.append(len(raw))
        counts.append(len(listing_ids(msg)))
    return {"parsed": len(sample), **size_per_listing(sizes, counts)}


def size_per_listing(sizes: list[int], counts: list[int]) -> dict:
    """Least-squares bytes = fixed + per_listing * listings, and the averages."""
    n = len(sizes)
    if not n:
        return {}
    mx, my = sum(counts) / n, sum(sizes) / n
    var = sum((x - mx) ** 2 for x in counts)
    slope = sum((x - mx) * (y - my) for x, y in zip(counts, sizes)) / var if var else my / max(mx, 1)
    return {"avg_bytes": round(my), "avg_listings": round(mx, 2), "bytes_per_listing": round(slope),
            "fixed_bytes": round(my - slope * mx), "max_bytes": max(sizes)}


# -- processes: CPU and peak RSS of a command and every process it starts ----------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of a live process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def _status(pid: int) -> tuple[int, int]:
    """(VmHWM, VmRSS) in KiB: the peak and the current resident set."""
    hwm = rss = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
                elif line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
    except OSError:
        pass
    return hwm, rss


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


class TreeSampler(threading.Thread):
    """Read /proc every `interval` s for a process and its descendants: last CPU and peak RSS per pid."""

    def __init__(self, root: int, interval: float = 0.2):
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.procs: dict[int, dict] = {}
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(self.interval)

    def sample(self) -> None:
        parents: dict[int, int] = {}
        cpu: dict[int, float] = {}
        for name in os.listdir("/proc"):
            if name.isdigit():
                st = _stat(int(name))
                if st:
                    parents[int(name)], cpu[int(name)] = st
        tree = {self.root}
        grew = True
        while grew:
            grew = False
            for pid, ppid in parents.items():
                if ppid in tree and pid not in tree:
                    tree.add(pid)
                    grew = True
        for pid in tree & cpu.keys():
            hwm, _rss = _status(pid)
            p = self.procs.setdefault(pid, {"pid": pid, "cmd": _cmdline(pid)[:160], "peak_rss_mb": 0.0})
            p["cpu_s"] = round(cpu[pid], 2)
            p["peak_rss_mb"] = max(p["peak_rss_mb"], round(hwm / 1024, 1))

    def stop(self) -> list[dict]:
        self._halt.set()
        self.join()
        return sorted(self.procs.values(), key=lambda p: p["pid"])


def peak_rss_mb() -> float:
    """This process's peak resident set so far (VmHWM: unlike ru_maxrss it does not inherit the parent's
    peak across fork and exec)."""
    return round(_status(os.getpid())[0] / 1024, 1)
