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
# One colour per system, the same in every plot (modes not listed take the next free colour)
COLOURS = {"in-process onnxruntime": "tab:blue", "served grpc": "tab:orange",
           "served grpc (perf_analyzer)": "tab:orange", "served http (perf_analyzer)": "tab:green",
           "nemo transcribe (seed)": "tab:gray", "in-process onnxruntime, int8": "tab:cyan",
           "served grpc (perf_analyzer), int8": "tab:red", "baseline": "tab:gray", "as built": "tab:red"}
SPARE_COLOURS = ("tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")


def colours(systems: list[str]) -> dict[str, str]:
    spare = iter(c for c in SPARE_COLOURS)
    return {system: COLOURS.get(system) or next(spare, "black") for system in systems}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_throughput_latency(rows: list[dict], path: Path, throughput: str = "rtfx", title: str = "") -> None:
    """Throughput against p99 latency, one panel per clip length (one line per system, each point labelled with its
    concurrency or batch), and the best throughput of each system per clip length. One colour per system
    throughout. ``throughput``: the row key plotted (``rtfx`` or ``throughput_rps``)."""
    plt = _pyplot()
    systems = sorted({r["mode"] for r in rows})
    colour = colours(systems)
    clips = sorted({r["clip_s"] for r in rows}, key=lambda c: (c == "", c))
    label = THROUGHPUT_LABELS.get(throughput, throughput)
    compare = len(clips) > 1  # the best of each system per clip length: a second row of bars
    figure = plt.figure(figsize=(max(7.0, 3.3 * len(clips)), 7.4 if compare else 4.6))
    grid = figure.add_gridspec(2 if compare else 1, len(clips), height_ratios=[1.15, 1] if compare else [1])
    top = [figure.add_subplot(grid[0, i]) for i in range(len(clips))]
    for axis, clip in zip(top, clips):
        for system in systems:
            group = [r for r in rows if r["mode"] == system and r["clip_s"] == clip]
            if not group:
                continue
            axis.plot([r["p99_ms"] for r in group], [r[throughput] for r in group], marker="o", color=colour[system])
            for r in group:
                axis.annotate(str(r["concurrency_or_batch"]), (r["p99_ms"], r[throughput]), fontsize=7,
                              xytext=(3, 3), textcoords="offset points")
        axis.set_title(f"{clip:g} s clips" if clip != "" else "all requests", fontsize=9)
        axis.set_xlabel("p99 latency (ms)", fontsize=8)
        axis.tick_params(labelsize=7)
        axis.grid(alpha=0.3)
    top[0].set_ylabel(label, fontsize=8)
    if compare:
        _best_bars(figure.add_subplot(grid[1, :]), rows, systems, clips, colour, throughput, label)
    handles = [plt.Line2D([], [], color=colour[s], marker="o", linewidth=2) for s in systems]
    _title_and_legend(figure, f"{title}throughput against p99 latency (point labels: concurrency or batch size)",
                      handles, systems)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _title_and_legend(figure, title: str, handles: list, labels: list[str], columns: int = 4) -> None:
    """A title, the legend in rows of ``columns`` under it, and the plots below both (measured in inches, so that
    they neither overlap nor leave a gap whatever the figure's height)."""
    height = figure.get_figheight()
    legend_rows = -(-len(labels) // columns)
    figure.suptitle(title, fontsize=10, y=1 - 0.08 / height)
    figure.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 1 - 0.38 / height),
                  ncol=min(len(labels), columns), fontsize=8, frameon=False)
    figure.tight_layout(rect=(0, 0, 1, 1 - (0.25 + 0.22 * legend_rows) / height))


def _best_bars(bars, rows: list[dict], systems: list[str], clips: list, colour: dict, throughput: str,
               label: str) -> None:
    width = 0.8 / len(systems)
    for i, system in enumerate(systems):
        best = [max((r[throughput] for r in rows if r["mode"] == system and r["clip_s"] == c), default=0)
                for c in clips]
        bars.bar([x + i * width for x in range(len(clips))], best, width=width, color=colour[system])
    bars.set_xticks([x + width * (len(systems) - 1) / 2 for x in range(len(clips))],
                    [f"{c:g} s clips" if c != "" else "all requests" for c in clips], fontsize=8)
    bars.set_ylabel(f"best {label}", fontsize=8)
    bars.set_title("Best throughput of each system (over concurrencies / batch sizes)", fontsize=9)
    bars.grid(axis="y", alpha=0.3)


def plot_streaming(rows: list[dict], path: Path) -> None:
    """p99 and p50 latency of a chunk's answer against the number of real-time streams, one colour per system; the
    chunk's duration marks keeping up."""
    plt = _pyplot()
    systems = list(dict.fromkeys(r["system"] for r in rows))
    colour = colours(systems)
    figure, axis = plt.subplots(figsize=(7.5, 4.6))
    for system in systems:
        for repeat in sorted({r["repeat"] for r in rows if r["system"] == system}):
            group = sorted((r for r in rows if r["system"] == system and r["repeat"] == repeat),
                           key=lambda r: r["streams"])
            streams = [r["streams"] for r in group]
            axis.plot(streams, [r["p99_ms"] for r in group], marker="o", color=colour[system],
                      label=f"{system}, p99" if repeat == 1 else None)
            axis.plot(streams, [r["p50_ms"] for r in group], marker=".", linestyle="--", color=colour[system],
                      label=f"{system}, p50" if repeat == 1 else None)
    chunk = rows[0]["chunk_ms"]
    axis.axhline(chunk, color="black", linewidth=1, linestyle=":", label=f"one chunk ({chunk:g} ms): keeps up below")
    axis.set_yscale("log")
    axis.set_xlabel("concurrent real-time streams")
    axis.set_ylabel("latency of a chunk's answer (ms, log scale)")
    axis.set_title("asr_streaming: answer latency against concurrent streams", fontsize=10)
    axis.grid(alpha=0.3, which="both")
    axis.legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
