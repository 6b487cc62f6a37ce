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


THROUGHPUT_LABELS = {"rtfx": "RTFx (audio seconds per wall second)", "throughput_rps": "requests per second"}


def plot_throughput_latency(rows: list[dict], path: Path, throughput: str = "rtfx", title: str = "") -> None:
    """Throughput vs p99 latency per concurrency / batch (one line per mode and clip length), and the best
    throughput per clip length. ``throughput``: the row key plotted (``rtfx`` or ``throughput_rps``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for (mode, clip), group in _groups(rows).items():
        label = f"{mode}, {clip:g} s" if clip != "" else mode
        axes[0].plot([r["p99_ms"] for r in group], [r[throughput] for r in group], marker="o", label=label)
        for r in group:
            axes[0].annotate(str(r["concurrency_or_batch"]), (r["p99_ms"], r[throughput]), fontsize=7)
    axes[0].set_xlabel("p99 latency (ms)")
    axes[0].set_ylabel(THROUGHPUT_LABELS.get(throughput, throughput))
    axes[0].set_title(f"{title}Throughput vs p99 latency (labels: concurrency / batch)", fontsize=9)
    axes[0].legend(fontsize=6)
    best = {}
    for r in rows:
        key = (r["mode"], r["clip_s"])
        best[key] = max(best.get(key, 0), r[throughput])
    modes = sorted({m for m, _ in best})
    clips = sorted({c for _, c in best}, key=lambda c: (c == "", c))
    width = 0.8 / len(modes)
    for i, mode in enumerate(modes):
        axes[1].bar([x + i * width for x in range(len(clips))], [best.get((mode, c), 0) for c in clips],
                    width=width, label=mode)
    axes[1].set_xticks([x + width * (len(modes) - 1) / 2 for x in range(len(clips))],
                       [f"{c:g} s" if c != "" else "all" for c in clips])
    axes[1].set_ylabel(f"best {THROUGHPUT_LABELS.get(throughput, throughput)}")
    axes[1].set_title(f"{title}Best throughput per {'clip length' if clips != [''] else 'mode'}", fontsize=9)
    axes[1].legend(fontsize=6)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _groups(rows: list[dict]) -> dict:
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["mode"], r["clip_s"]), []).append(r)
    return groups
