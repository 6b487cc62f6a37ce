"""CSV, Markdown and plots of benchmark rows."""

from __future__ import annotations

import csv
from pathlib import Path


def write_csv(rows: list[dict], path: Path) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def markdown_table(rows: list[dict]) -> str:
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def plot_throughput_latency(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for (mode, clip), group in _groups(rows).items():
        label = f"{mode}, {clip:g} s clips"
        axes[0].plot([r["p99_ms"] for r in group], [r["rtfx"] for r in group], marker="o", label=label)
        for r in group:
            axes[0].annotate(str(r["concurrency_or_batch"]), (r["p99_ms"], r["rtfx"]), fontsize=7)
    axes[0].set_xlabel("p99 latency (ms)")
    axes[0].set_ylabel("RTFx (audio seconds per wall second)")
    axes[0].set_title("Throughput vs p99 latency (labels: concurrency / batch)")
    axes[0].legend(fontsize=7)
    best = {}
    for r in rows:
        key = (r["mode"], r["clip_s"])
        best[key] = max(best.get(key, 0), r["rtfx"])
    modes = sorted({m for m, _ in best})
    clips = sorted({c for _, c in best})
    width = 0.8 / len(modes)
    for i, mode in enumerate(modes):
        axes[1].bar([x + i * width for x in range(len(clips))], [best.get((mode, c), 0) for c in clips],
                    width=width, label=mode)
    axes[1].set_xticks([x + width * (len(modes) - 1) / 2 for x in range(len(clips))], [f"{c:g} s" for c in clips])
    axes[1].set_ylabel("best RTFx")
    axes[1].set_title("Best RTFx per clip length")
    axes[1].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _groups(rows: list[dict]) -> dict:
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["mode"], r["clip_s"]), []).append(r)
    return groups
