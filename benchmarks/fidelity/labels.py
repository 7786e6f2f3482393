"""Turn the hand labels (`<data>/labels.txt`, one line per record) into `<data>/truth.jsonl`.

A label line, written by a person reading the raw record (never from the normaliser's output):

    id | stack | level | regions | salary | note
    board-123 | ruby | lead | us,canada | 170000,200000,USD,year | the title names Rails

`-` is empty (no stack, level null, no region, no salary); in the salary, `min,max,CUR,period` with
`~` for a part that is null (`~,39520,USD,hour` is "up to $19/hour"). Amounts are ANNUAL, in the
listing's own currency. Lines starting with `#` are comments.

    .venv/bin/python -m benchmarks.fidelity.labels [--data DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .sources import data_dir

STACKS = {"python", "go", "java", "node", "ruby", "php", "rust", "kotlin", "scala", "elixir", "csharp", "cpp"}
LEVELS = {"intern", "junior", "mid", "senior", "lead"}
REGIONS = {"us", "canada", "latam", "europe", "uk", "africa", "middle-east", "asia", "oceania", "worldwide"}
PERIODS = {"year", "month", "week", "day", "hour"}


def _items(text: str, allowed: set[str], what: str, where: str) -> list[str]:
    text = text.strip()
    if text in ("", "-"):
        return []
    items = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in items if t not in allowed]
    if bad:
        raise ValueError(f"{where}: unknown {what} {bad}")
    return sorted(set(items))


def _num(text: str) -> float | int | None:
    text = text.strip()
    if text == "~":
        return None
    value = float(text)
    return int(value) if value.is_integer() else value


def parse_line(line: str, where: str) -> dict:
    parts = [p.strip() for p in line.split("|")]
    if len(parts) < 5:
        raise ValueError(f"{where}: expected 'id | stack | level | regions | salary | note'")
    rid, stack, level, regions, salary = parts[:5]
    note = " | ".join(parts[5:]).strip()
    if level not in ("-", "") and level not in LEVELS:
        raise ValueError(f"{where}: unknown level {level!r}")
    regs = _items(regions, REGIONS, "region", where)
    if "worldwide" in regs and len(regs) > 1:
        raise ValueError(f"{where}: worldwide stands alone")
    sal = None
    if salary not in ("-", ""):
        fields = [s.strip() for s in salary.split(",")]
        if len(fields) != 4:
            raise ValueError(f"{where}: salary is min,max,CUR,period")
        lo, hi, cur, period = fields
        sal = {"min": _num(lo), "max": _num(hi), "currency": None if cur == "~" else cur.upper(),
               "period": None if period == "~" else period}
        if sal["period"] is not None and sal["period"] not in PERIODS:
            raise ValueError(f"{where}: unknown period {period!r}")
        if all(v is None for v in sal.values()):
            sal = None
    return {"id": rid, "stack": _items(stack, STACKS, "stack", where), "level": None if level in ("-", "") else level,
            "regions": regs, "salary": sal, "note": note}


def convert(data: Path) -> int:
    out, seen = [], set()
    for n, line in enumerate((data / "labels.txt").read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        rec = parse_line(line, f"labels.txt:{n}")
        if rec["id"] in seen:
            raise ValueError(f"labels.txt:{n}: {rec['id']} labelled twice")
        seen.add(rec["id"])
        out.append(rec)
    with (data / "truth.jsonl").open("w", encoding="utf-8") as f:
        for rec in out:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return len(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="data directory (default $FIDELITY_DATA or /work/realdata)")
    args = ap.parse_args(argv)
    data = data_dir(args.data)
    try:
        n = convert(data)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {n} labels to {data / 'truth.jsonl'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
