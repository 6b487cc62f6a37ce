"""Serving-settings sweep of the ``asr`` ensemble, the way Triton Model Analyzer's brute-force search does it.

Every combination of ``max_batch_size``, ``max_queue_delay_microseconds``, preferred batch sizes and
instance counts (of the models named in ``instance_models``) gets its own repository
(``ensembles.builder.build``) and server, and is measured with perf_analyzer at each concurrency on the
same clips. ``best_settings`` picks the highest throughput at the highest concurrency among the settings
whose lone-request p50 stays near the best one's (and whose p99 stays within a budget, if given); ``flags``
turns the pick into ``make repository REPOSITORY_FLAGS=...`` (and the values for ``ensembles/settings.py``).
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from tqdm import tqdm

from triton_speech.benchmarks import perf, report
from triton_speech.ensembles.builder import Exports, build
from triton_speech.ensembles.settings import RepositorySettings
from triton_speech.ensembles.spec import ConfigError
from triton_speech.server import Ports, TritonServer


@dataclass(frozen=True)
class TuningGrid:
    max_batch_sizes: tuple[int, ...] = (16,)
    max_queue_delays_us: tuple[int, ...] = (2000,)
    preferred_batch_sizes: tuple[tuple[int, ...], ...] = ((),)
    instance_counts: tuple[int, ...] = (1,)
    # the models whose instance count is swept (the acoustic model is where the time goes)
    instance_models: tuple[str, ...] = ("quartznet",)

    def settings(self, base: RepositorySettings = RepositorySettings()) -> list[RepositorySettings]:
        """The cartesian product, without preferred batch sizes above the maximum batch size."""
        return [
            replace(base, max_batch_size=size, max_queue_delay_us=delay, preferred_batch_sizes=preferred,
                    instances={model: count for model in self.instance_models})
            for size, delay, preferred, count in itertools.product(
                self.max_batch_sizes, self.max_queue_delays_us, self.preferred_batch_sizes, self.instance_counts)
            if all(p <= size for p in preferred)
        ]


def describe(settings: RepositorySettings) -> dict:
    """The swept settings as table columns."""
    return {"max_batch_size": settings.max_batch_size, "max_queue_delay_us": settings.max_queue_delay_us,
            "preferred_batch_sizes": " ".join(map(str, settings.preferred_batch_sizes)) or "-",
            "instances": " ".join(f"{m}={c}" for m, c in sorted(settings.instances.items())) or "-"}


def settings_of(row: dict, base: RepositorySettings = RepositorySettings()) -> RepositorySettings:
    """The settings a tuning row was measured with (inverse of ``describe``)."""
    preferred = str(row["preferred_batch_sizes"])
    instances = str(row["instances"])
    return replace(
        base, max_batch_size=int(row["max_batch_size"]), max_queue_delay_us=int(row["max_queue_delay_us"]),
        preferred_batch_sizes=tuple(int(p) for p in preferred.split()) if preferred != "-" else (),
        instances={m: int(c) for m, _, c in (i.partition("=") for i in instances.split())} if instances != "-" else {})


def flags(settings: RepositorySettings) -> str:
    """``python -m ensembles`` / ``REPOSITORY_FLAGS`` flags of the swept settings."""
    parts = [f"--max-batch-size {settings.max_batch_size}", f"--max-queue-delay-us {settings.max_queue_delay_us}"]
    if settings.preferred_batch_sizes:
        parts.append("--preferred-batch-sizes " + " ".join(map(str, settings.preferred_batch_sizes)))
    if settings.instances:
        parts.append("--instances " + " ".join(f"{m}={c}" for m, c in sorted(settings.instances.items())))
    return " ".join(parts)


def sweep(exports: Exports, grid: TuningGrid, input_data: Path, clip_seconds: float, concurrencies: Sequence[int],
          settings: perf.PerfSettings = perf.PerfSettings(), base: RepositorySettings = RepositorySettings(),
          ports: Ports | None = None, requests_per_window: int | None = None) -> list[dict]:
    """One row per (settings, concurrency): the settings columns, then perf_analyzer's measurement."""
    candidates = grid.settings(base)
    if not candidates:
        raise ConfigError("the tuning grid is empty (preferred batch sizes above every max batch size?)")
    rows = []
    bar = tqdm(total=len(candidates) * len(concurrencies), desc="tuning", unit="point")
    with tempfile.TemporaryDirectory() as folder, bar:
        for index, candidate in enumerate(candidates):
            repository = Path(folder) / f"repository_{index}"
            build(repository, exports, candidate)
            bar.set_postfix_str(flags(candidate))
            with TritonServer(repository, **({"ports": ports} if ports else {})) as server:
                statistics = perf.ServerStatistics(server.grpc_url, admin_key=server.admin_key)
                try:
                    for concurrency in concurrencies:
                        point = perf.Point("asr", input_data, concurrency, audio_seconds=clip_seconds,
                                           requests_per_window=requests_per_window)
                        row, _ = perf.measure(server.grpc_url, point, statistics, settings)
                        measured = {k: v for k, v in row.items() if k not in ("model", "mode")}
                        rows.append({**describe(candidate), **measured})
                        bar.update(1)
                finally:
                    statistics.close()
    return rows


def best_settings(rows: Sequence[dict], p99_budget_ms: float | None = None,
                  latency_slack: float | None = 1.2) -> tuple[dict, bool]:
    """The best setting's row at its highest concurrency, and whether it met the latency bounds.

    Best: highest throughput at the highest measured concurrency, among the settings whose p99 is within
    ``p99_budget_ms`` at every concurrency and whose p50 at the lowest concurrency is within ``latency_slack``
    times the lowest any setting reached there (a lone request should not wait for batches that never fill;
    p50, because a p99 over a few seconds is one slow request; all settings if none meets the bounds).
    A stable perf_analyzer measurement beats an unstable one; ties go to the lower p99 at the lowest concurrency.
    """
    by_setting: dict[tuple, list[dict]] = {}
    for row in rows:
        by_setting.setdefault(tuple(describe(settings_of(row)).values()), []).append(row)
    groups = [sorted(g, key=lambda r: r["concurrency_or_batch"]) for g in by_setting.values()]
    fastest_alone = min(g[0]["p50_ms"] for g in groups)

    def within(group):
        return ((p99_budget_ms is None or all(r["p99_ms"] <= p99_budget_ms for r in group))
                and (latency_slack is None or group[0]["p50_ms"] <= latency_slack * fastest_alone))

    eligible = [g for g in groups if within(g)] or groups
    best = max(eligible, key=lambda g: (bool(g[-1].get("stable", True)), g[-1]["throughput_rps"], -g[0]["p99_ms"]))
    return best[-1], within(best)


def pick_report(rows: Sequence[dict], p99_budget_ms: float | None = None, latency_slack: float | None = 1.2) -> str:
    """The Markdown that ends ``tuning.md``: the pick, the bounds it was picked under, and its flags."""
    best, within_bounds = best_settings(rows, p99_budget_ms, latency_slack)
    bounds = [f"p99 within {p99_budget_ms:g} ms"] if p99_budget_ms is not None else []
    if latency_slack is not None:
        bounds.append(f"lone-request p50 within {latency_slack:g}x the best setting's")
    under = f" ({'; '.join(bounds)}{'' if within_bounds else ': no setting met them'})" if bounds else ""
    return (f"## Best{under}\n\n{report.markdown_table([best])}\n\n"
            f"`make repository REPOSITORY_FLAGS=\"{flags(settings_of(best))}\"`")
