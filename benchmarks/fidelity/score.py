"""Score the listing normaliser against hand-labelled records from real public job-board dumps.

    .venv/bin/python -m benchmarks.fidelity.score [--data /work/realdata] [--no-full] [--out FILE]

1. Imports `<data>/sample.jsonl` (our import records, made by `benchmarks.fidelity.sources`) through the
   real command line, `digest listings import`, into a throwaway SQLite database in a temporary directory,
   reads `digest listings list --json` back and compares each listing with `<data>/truth.jsonl`:
   stack (exact set), level (exact), regions (exact set), salary (currency, period and the annual min/max
   within 1 %; no salary = no salary). A sample record the import rejected misses every facet.
2. Imports EVERY record of every dump (through the same adapters) the same way, per source and in files of
   at most 100 records (the command prints the first 100 warnings of a file), and counts rejections with
   their distinct reasons, and warnings.
3. Prints accuracy per facet and per source and every miss (id, field, expected, got), and writes the
   figures (no listing text, no ids) to benchmarks/fidelity/results.json.

The data directory defaults to $FIDELITY_DATA, else /work/realdata; it lives outside the repository
because the dumps' terms forbid republishing them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

from .sources import SOURCES, adapted, data_dir, source_of

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
FACETS = ("stack", "level", "regions", "salary")
CHUNK = 100  # records per import file in the full-dump pass: the CLI prints the first 100 warnings of a file

LINE_RE = re.compile(r"^(?P<path>.+?): line (?P<line>\d+)(?: \((?P<id>.*?)\))?: (?P<warn>warning: )?(?P<reason>.*)$")
SUMMARY_RE = re.compile(r"imported (?P<imported>\d[\d,]*) listings.*?; (?P<rejected>\d[\d,]*) rejected"
                        r"(?:, (?P<warnings>\d[\d,]*) warnings?)?")


# ------------------------------------------------------------------------------------------- the CLI

CODE: Path | None = None  # --code: run the `digest` package found in this directory instead of the installed one


def _digest_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "digest"
    if exe.exists() and CODE is None:
        return [str(exe)]
    return [sys.executable, "-c", "import sys; from digest.cli import main; sys.exit(main())"]


class Cli:
    """`digest` against a throwaway SQLite database in its own temporary directory."""

    def __init__(self, workdir: Path, name: str = "fidelity.db"):
        self.workdir = workdir
        self.env = {**os.environ, "DIGEST_DATABASE_URL": f"sqlite:///{workdir / name}",
                    "DIGEST_OUTBOX_DIR": str(workdir / "outbox")}
        if CODE is not None:
            self.env["PYTHONPATH"] = os.pathsep.join(p for p in (str(CODE), os.environ.get("PYTHONPATH")) if p)

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*_digest_cmd(), *args], cwd=self.workdir, env=self.env, capture_output=True,
                              text=True, timeout=1800)

    def import_file(self, path: Path) -> dict:
        """Import one file; the report's rejected and warned lines and the summary's counts."""
        p = self.run("listings", "import", str(path))
        rejected, warned, other = [], [], []
        for line in p.stderr.splitlines():
            m = LINE_RE.match(line)
            if m and m["path"] == str(path):
                item = {"line": int(m["line"]), "id": m["id"], "reason": m["reason"]}
                (warned if m["warn"] else rejected).append(item)
            elif line.strip() and "more warnings" not in line:
                other.append(line.strip())
        summary = SUMMARY_RE.search(p.stdout)
        counts = {k: int(v.replace(",", "")) if v else 0 for k, v in summary.groupdict().items()} if summary else None
        return {"exit": p.returncode, "rejected": rejected, "warned": warned, "other": other, "counts": counts,
                "stdout": p.stdout.strip()}

    def listings(self) -> dict[str, dict]:
        p = self.run("listings", "list", "--json")
        if p.returncode != 0:
            raise SystemExit(f"digest listings list --json failed ({p.returncode}): {p.stderr.strip()[:500]}")
        out = {}
        for line in p.stdout.split("\n"):  # not splitlines(): U+2028 may stand raw inside a JSON string
            if line.strip():
                obj = json.loads(line)  # new keys are fine: only the ones compared below are read
                out[str(obj.get("id"))] = obj
        return out


# ------------------------------------------------------------------------------------------ compare

def _got_salary(listing: dict) -> dict | None:
    sal = {"min": listing.get("salary_min"), "max": listing.get("salary_max"),
           "currency": listing.get("salary_currency"), "period": listing.get("salary_period")}
    return None if all(v is None for v in sal.values()) else sal


def _close(got, want) -> bool:
    if want is None or got is None:
        return want is None and got is None
    try:
        got, want = float(got), float(want)
    except (TypeError, ValueError):
        return False
    return abs(got - want) <= 0.01 * abs(want) if want else got == 0


def salary_matches(got: dict | None, want: dict | None) -> bool:
    if want is None or got is None:
        return want is None and got is None
    return (str(got.get("currency") or "").upper() == str(want.get("currency") or "").upper()
            and got.get("period") == want.get("period")
            and _close(got.get("min"), want.get("min")) and _close(got.get("max"), want.get("max")))


def compare(truth: dict, listing: dict | None, rejected_reason: str | None) -> dict[str, tuple[bool, object, object]]:
    """facet -> (hit, expected, got)."""
    if listing is None:
        got = f"REJECTED: {rejected_reason}" if rejected_reason else "MISSING from listings list"
        return {f: (False, _shown(f, truth[f]), got) for f in FACETS}
    gs = sorted(listing.get("stack") or [])
    gr = sorted(listing.get("regions") or [])
    gsal = _got_salary(listing)
    return {
        "stack": (gs == sorted(truth["stack"]), sorted(truth["stack"]), gs),
        "level": (listing.get("level") == truth["level"], truth["level"], listing.get("level")),
        "regions": (gr == sorted(truth["regions"]), sorted(truth["regions"]), gr),
        "salary": (salary_matches(gsal, truth["salary"]), truth["salary"], gsal),
    }


def _shown(facet, value):
    return sorted(value) if facet in ("stack", "regions") else value


def _fmt(value) -> str:
    if isinstance(value, dict):
        parts = []
        for k in ("min", "max", "currency", "period"):
            v = value.get(k)
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            parts.append(f"{k}={v}")
        return "{" + " ".join(parts) + "}"
    return json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value


def _pct(hit: int, n: int) -> float | None:
    return round(100.0 * hit / n, 1) if n else None


# -------------------------------------------------------------------------------------------- passes

def score_sample(data: Path, workdir: Path) -> dict:
    truth = [json.loads(line) for line in (data / "truth.jsonl").read_text(encoding="utf-8").split("\n") if line.strip()]
    sample = data / "sample.jsonl"
    if not sample.exists():
        raise SystemExit(f"{sample} is missing: run .venv/bin/python -m benchmarks.fidelity.sources --build-sample")
    sample_ids = [json.loads(line).get("id") for line in sample.read_text(encoding="utf-8").split("\n") if line.strip()]
    line_of = {rid: n for n, rid in enumerate(sample_ids, 1)}
    missing = [t["id"] for t in truth if t["id"] not in line_of]
    if missing:
        raise SystemExit(f"sample.jsonl lacks {len(missing)} labelled ids (e.g. {missing[0]}): rebuild it")

    cli = Cli(workdir, "sample.db")
    t0 = time.perf_counter()
    imp = cli.import_file(sample)
    listings = cli.listings()
    seconds = round(time.perf_counter() - t0, 2)
    rejected_by_line = {r["line"]: r["reason"] for r in imp["rejected"]}

    hits = Counter()
    per_source: dict[str, Counter] = defaultdict(Counter)
    n_source = Counter()
    misses = []
    sal_detail = Counter()
    for t in truth:
        src = source_of(t["id"])
        n_source[src] += 1
        listing = listings.get(t["id"])
        result = compare(t, listing, rejected_by_line.get(line_of[t["id"]]))
        for facet, (hit, want, got) in result.items():
            if hit:
                hits[facet] += 1
                per_source[src][facet] += 1
            else:
                misses.append({"id": t["id"], "source": src, "field": facet, "expected": want, "got": got,
                               "note": t.get("note", "")})
        # salary detail: which part goes wrong
        want, got = t["salary"], (_got_salary(listing) if listing else None)
        if listing is None:
            sal_detail["rejected"] += 1
        elif want is None:
            sal_detail["truth_none"] += 1
            sal_detail["truth_none_but_got_salary"] += got is not None
        else:
            sal_detail["truth_salary"] += 1
            if got is None:
                sal_detail["truth_salary_but_got_none"] += 1
            else:
                sal_detail["currency_ok"] += str(got.get("currency") or "").upper() == str(want["currency"] or "").upper()
                sal_detail["period_ok"] += got.get("period") == want["period"]
                sal_detail["amounts_ok"] += _close(got.get("min"), want["min"]) and _close(got.get("max"), want["max"])
    n = len(truth)
    return {
        "n": n, "seconds": seconds, "import_exit": imp["exit"], "import_counts": imp["counts"],
        "import_other_lines": imp["other"][:5],
        "rejected": len(imp["rejected"]), "warnings": (imp["counts"] or {}).get("warnings", len(imp["warned"])),
        "accuracy": {f: _pct(hits[f], n) for f in FACETS},
        "hits": {f: hits[f] for f in FACETS},
        "per_source": {s: {"n": n_source[s], **{f: _pct(per_source[s][f], n_source[s]) for f in FACETS}}
                       for s in sorted(n_source)},
        "salary_detail": dict(sal_detail),
        "misses": misses,
        "rejected_reasons": Counter(_template(r["reason"]) for r in imp["rejected"]),
        "warning_reasons": Counter(_template(r["reason"]) for r in imp["warned"]),
    }


def _template(reason: str) -> str:
    """A reason with the listing's own values taken out, so that reasons can be counted and shown without
    listing text: quoted parts become '…', long numbers N."""
    text = re.sub(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", "'…'", reason)
    text = re.sub(r"\bline \d+\b", "line N", text)
    text = re.sub(r"\d[\d,.]{3,}", "N", text)
    return text[:300]


def score_full(data: Path, workdir: Path) -> dict:
    out = {}
    for source in SOURCES:
        records = list(adapted(data, source))
        cli = Cli(workdir, f"full-{source}.db")
        tot = Counter()
        reasons, wreasons = Counter(), Counter()
        other = []
        for i in range(0, len(records), CHUNK):
            path = workdir / f"full-{source}-{i // CHUNK:03}.jsonl"
            with path.open("w", encoding="utf-8") as f:
                for rec in records[i:i + CHUNK]:
                    f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            imp = cli.import_file(path)
            c = imp["counts"] or {}
            tot["imported"] += c.get("imported", 0)
            tot["rejected"] += c.get("rejected", len(imp["rejected"]))
            tot["warnings"] += c.get("warnings", len(imp["warned"]))
            if imp["counts"] is None:
                tot["failed_imports"] += 1
                other.extend(imp["other"][:3])
            reasons.update(_template(r["reason"]) for r in imp["rejected"])
            wreasons.update(_template(r["reason"]) for r in imp["warned"])
            path.unlink()
        out[source] = {"records": len(records), **{k: tot[k] for k in ("imported", "rejected", "warnings")},
                       "failed_imports": tot["failed_imports"], "errors": other[:5],
                       "rejected_reasons": dict(reasons.most_common()),
                       "warning_reasons": dict(wreasons.most_common())}
    return out


# ------------------------------------------------------------------------------------------- report

def print_report(res: dict, full: dict | None, max_misses: int | None) -> None:
    s = res
    print(f"Fidelity of the listing normaliser on {s['n']} hand-labelled records from real dumps")
    print(f"code: {res.get('code')}")
    print(f"import of the sample: exit {s['import_exit']}, {s['import_counts']}")
    for line in s["import_other_lines"]:
        print(f"  ! {line}")
    print()
    print("accuracy per facet (all sources):")
    for f in FACETS:
        print(f"  {f:8} {s['accuracy'][f]:5.1f} %  ({s['hits'][f]}/{s['n']})")
    print()
    print(f"{'source':16} {'n':>4}  " + "  ".join(f"{f:>8}" for f in FACETS))
    for src, row in s["per_source"].items():
        print(f"{src:16} {row['n']:>4}  " + "  ".join(f"{row[f]:>7.1f}%" for f in FACETS))
    d = s["salary_detail"]
    print()
    print(f"salary detail: {d.get('truth_salary', 0)} labelled with pay: {d.get('truth_salary_but_got_none', 0)} "
          f"read as none; of the rest currency right {d.get('currency_ok', 0)}, period right "
          f"{d.get('period_ok', 0)}, amounts right {d.get('amounts_ok', 0)}. {d.get('truth_none', 0)} labelled "
          f"without pay: {d.get('truth_none_but_got_salary', 0)} given a salary. {d.get('rejected', 0)} rejected.")
    if s["rejected_reasons"]:
        print("sample records rejected:")
        for reason, k in s["rejected_reasons"].most_common():
            print(f"  {k:4} × {reason}")
    if s["warning_reasons"]:
        print("sample warnings:")
        for reason, k in s["warning_reasons"].most_common():
            print(f"  {k:4} × {reason}")
    if full is not None:
        print()
        print("every record of every dump, through the adapters:")
        print(f"  {'source':16} {'records':>7} {'imported':>8} {'rejected':>8} {'warnings':>8}")
        for src, row in full.items():
            print(f"  {src:16} {row['records']:>7} {row['imported']:>8} {row['rejected']:>8} {row['warnings']:>8}")
            for line in row["errors"]:
                print(f"      ! {line}")
        allr, allw = Counter(), Counter()
        for row in full.values():
            allr.update(row["rejected_reasons"])
            allw.update(row["warning_reasons"])
        print("  rejection reasons (all dumps):")
        for reason, k in allr.most_common():
            print(f"    {k:5} × {reason}")
        if not allr:
            print("    (none)")
        print("  warning reasons (all dumps):")
        for reason, k in allw.most_common():
            print(f"    {k:5} × {reason}")
        if not allw:
            print("    (none)")
    misses = s["misses"] if max_misses is None else s["misses"][:max_misses]
    print()
    print(f"misses ({len(s['misses'])}; id, field, expected, got):")
    for m in misses:
        print(f"  {m['id']}\t{m['field']}\texpected {_fmt(m['expected'])}\tgot {_fmt(m['got'])}")


def _code_version() -> str:
    """Which `digest` was scored: its directory and, where it is a git checkout, the commit and whether the
    working tree has changes under digest/."""
    probe = subprocess.run([sys.executable, "-c", "import digest, os; print(os.path.dirname(digest.__file__))"],
                           capture_output=True, text=True, cwd=tempfile.gettempdir(),
                           env={**os.environ, **({"PYTHONPATH": str(CODE)} if CODE else {})})
    where = probe.stdout.strip() or "?"
    stamp = Path(where).parent / "COMMIT"  # left by the export recipe in --code's help
    if CODE is not None and stamp.exists():
        return f"export of commit {stamp.read_text().strip()}"
    git = subprocess.run(["git", "-C", where, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if git.returncode != 0:
        return f"{where} (not a git checkout)"
    dirty = subprocess.run(["git", "-C", where, "status", "--porcelain", "--", "."], capture_output=True, text=True)
    return f"{where} at {git.stdout.strip()}" + (" with uncommitted changes" if dirty.stdout.strip() else "")


def results_json(res: dict, full: dict | None) -> dict:
    """Figures only: no listing text and no ids (the ids of some boards are slugs of the titles)."""
    miss_counts: dict[str, Counter] = defaultdict(Counter)
    for m in res["misses"]:
        miss_counts[m["source"]][m["field"]] += 1
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "code": res.get("code"),
        "sample": {
            "records": res["n"], "seconds": res["seconds"], "import_exit": res["import_exit"],
            "rejected": res["rejected"], "warnings": res["warnings"],
            "accuracy_pct": res["accuracy"], "hits": res["hits"], "per_source_pct": res["per_source"],
            "misses_per_source": {s: dict(c) for s, c in sorted(miss_counts.items())},
            "salary_detail": res["salary_detail"],
            "rejected_reasons": dict(res["rejected_reasons"]), "warning_reasons": dict(res["warning_reasons"]),
        },
        "full_dumps": None if full is None else {
            s: {k: v for k, v in row.items() if k != "errors"} for s, row in full.items()
        },
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="data directory (default $FIDELITY_DATA or /work/realdata)")
    ap.add_argument("--out", default=str(HERE / "results.json"), help="machine-readable figures (no listing text)")
    ap.add_argument("--no-full", action="store_true", help="skip importing every record of every dump")
    ap.add_argument("--max-misses", type=int, default=None, help="print at most this many misses")
    ap.add_argument("--code", metavar="DIR", help="score the `digest` package in DIR instead of the installed one, "
                    "e.g. an export of a commit: git archive HEAD digest | tar -x -C DIR && "
                    "git rev-parse --short HEAD > DIR/COMMIT")
    args = ap.parse_args(argv)
    global CODE
    CODE = Path(args.code).resolve() if args.code else None
    if CODE is not None and not (CODE / "digest" / "cli.py").exists():
        print(f"error: {CODE}/digest/cli.py not found", file=sys.stderr)
        return 1
    data = data_dir(args.data)
    # raw/ is read only by the full-dump pass: a held-out data dir may hold just sample.jsonl + truth.jsonl
    for needed in ("truth.jsonl",) + (() if args.no_full else ("raw",)):
        if not (data / needed).exists():
            print(f"error: {data / needed} not found (set --data or FIDELITY_DATA)", file=sys.stderr)
            return 1
    with tempfile.TemporaryDirectory(prefix="fidelity-") as tmp:
        workdir = Path(tmp)
        res = score_sample(data, workdir)
        res["code"] = _code_version()
        full = None if args.no_full else score_full(data, workdir)
    print_report(res, full, args.max_misses)
    Path(args.out).write_text(json.dumps(results_json(res, full), indent=2, ensure_ascii=False) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
