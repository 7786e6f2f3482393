"""The benchmark's PNG: where a digest's CPU goes, real against naive against the floor, and peak memory."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display here, and none wanted

import matplotlib.pyplot as plt  # noqa: E402


def draw(result: dict, path: Path) -> Path:
    """Write a three-panel chart of `result` (the JSON that benchmarks.run writes) to `path`."""
    real, naive, floor = result["real"], result["naive"], result["floor"]
    untimed = result.get("untimed", {"real": real, "naive": naive})  # the throughput without stage timers
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(15, 4.8), gridspec_kw={"width_ratios": [2.2, 1.2, 1.2]})
    title = (f"jobdigest pipeline — {real['digests']:,} digests, {result['data']['listings']:,} listings, "
             f"{result['machine']['cores']} cores, {result['date'][:10]}")
    fig.suptitle(title, fontsize=11)

    stages = [(name, s["ms_per_digest"]) for name, s in real["stages"].items() if s["ms_per_digest"] > 0]
    names = [n for n, _ in stages][::-1]
    values = [v for _, v in stages][::-1]
    a.barh(names, values, color="#3b82f6")
    for y, v in enumerate(values):
        a.text(v, y, f" {v:.3f}", va="center", fontsize=8)
    a.axvline(floor["ms_per_digest"], color="#16a34a", ls="--", lw=1.2,
              label=f"bare Jinja render (floor) {floor['ms_per_digest']:.3f} ms")
    a.set_xlabel("CPU ms per digest")
    a.set_title(f"Real pipeline by stage (timed; {untimed['real']['ms_per_digest']:.3f} ms per digest untimed = "
                f"{result['ratios']['real_over_floor']:.1f}× the floor)", fontsize=10)
    a.legend(fontsize=8, loc="lower right")
    a.tick_params(axis="y", labelsize=8)

    labels = ["naive", "real", "floor\n(bare Jinja)"]
    rates = [untimed["naive"]["digests_per_s_per_core"], untimed["real"]["digests_per_s_per_core"],
             1000 / floor["ms_per_digest"]]
    bars = b.bar(labels, rates, color=["#9ca3af", "#3b82f6", "#16a34a"])
    b.set_yscale("log")
    b.set_ylabel("digests per second per core (log)")
    b.set_title(f"real = {result['ratios']['real_over_naive']:.1f}× naive (target ≥ 30×)", fontsize=10)
    for bar, v in zip(bars, rates):
        b.text(bar.get_x() + bar.get_width() / 2, v, f"{v:,.0f}", ha="center", va="bottom", fontsize=8)

    rss = result["rss"]
    c.bar([f"{r['subscribers']:,}" for r in rss], [r["peak_rss_mb"] for r in rss], color="#f59e0b")
    c.axhline(250, color="#dc2626", ls="--", lw=1, label="250 MB per process")
    for x, r in enumerate(rss):
        c.text(x, r["peak_rss_mb"], f"{r['peak_rss_mb']:.0f} MB", ha="center", va="bottom", fontsize=8)
    c.set_xlabel("subscribers (one process, whole run)")
    c.set_ylabel("peak RSS, MB")
    c.set_ylim(0, max(300, max(r["peak_rss_mb"] for r in rss) * 1.15))
    c.set_title("Peak memory by size", fontsize=10)
    c.legend(fontsize=8)

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
