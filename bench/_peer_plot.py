"""Draws docs/benchmarks.png for bench/run.py: per-call and per-chunk overhead by variant, with
the targets. Runs in bench/.venvs/plot (matplotlib is not a dependency of the project).

    python bench/_peer_plot.py DATA.json OUT.png
"""

from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(data_path: str, out: str) -> None:
    with open(data_path) as f:
        data = json.load(f)
    variants = [v for v in data["variants"] if v != "baseline"]
    matrix, status, targets = data["matrix"], data["status"], data["targets"]
    panels = (
        ("call_added", "per call of chat.completions.create, added [µs]", targets["per call"]),
        ("chunk_added", "per chunk of a consumed 1,000-chunk stream, added [µs]", targets["per chunk"]),
    )
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.6 * len(variants) + 2.2))
    for ax, (key, title, target) in zip(axes, panels, strict=True):
        values = [matrix[v].get(key) or 0.0 for v in variants]
        colors = ["#d62728" if status[v]["broken"] else ("#1f77b4" if v == "weave-agent" else "#7f7f7f")
                  for v in variants]
        y = range(len(variants))
        ax.barh(list(y), values, color=colors)
        ax.set_yticks(list(y), [v + (" (BROKEN)" if status[v]["broken"] else "") for v in variants])
        ax.invert_yaxis()
        ax.axvline(target, color="#2ca02c", linestyle="--", label=f"weave-agent target {target:g} µs")
        for i, x in enumerate(values):
            ax.annotate(f"{x:.1f}" if abs(x) >= 10 else f"{x:.2f}", (max(x, 0), i), xytext=(3, 0),
                        textcoords="offset points", va="center", fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.legend(loc="lower right", fontsize=8)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle("Tracing overhead next to the baseline (medians of interleaved rounds, %s)" % data["title"],
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
