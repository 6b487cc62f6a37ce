"""Progress output and provenance shared by the exports."""

from __future__ import annotations

import sys
from pathlib import Path

from tqdm import tqdm


def loud_notice(message: str) -> None:
    bar = "!" * 78
    print(f"\n{bar}\n!! {message}\n{bar}\n", file=sys.stderr, flush=True)


def random_weights_notice(model: str, flag: str, example: str) -> None:
    loud_notice(
        f"No {flag} given: exporting {model} with DETERMINISTIC RANDOM WEIGHTS: its output is meaningless. "
        f"Pass {flag} {example} for the real model."
    )


def provenance(model: str, checkpoint: Path | None) -> dict:
    """The first fields of every export.json: which model, from which checkpoint."""
    return {
        "model": model,
        "source": str(checkpoint) if checkpoint else "random weights (seed 0)",
        "random_weights": checkpoint is None,
    }


class Stages:
    """A tqdm bar over named stages: ``with Stages([...]) as s: s.next("load") ...``."""

    @classmethod
    def of_export(cls, output: Path, names: list[str], model: str) -> "Stages":
        """An export's stages, begun: its output folder made and its first stage (loading) shown."""
        output.mkdir(parents=True, exist_ok=True)
        stages = cls(names, desc=f"export {model}")
        stages.next(names[0])
        return stages

    def __init__(self, names: list[str], desc: str):
        self.names = names
        self.bar = tqdm(total=len(names), desc=desc, unit="stage", file=sys.stderr)
        self.started = False

    def next(self, name: str) -> None:
        if self.started:
            self.bar.update(1)
        self.started = True
        self.bar.set_postfix_str(name)

    def __enter__(self) -> "Stages":
        return self

    def __exit__(self, exc_type, *_):
        if exc_type is None:
            self.bar.update(self.bar.total - self.bar.n)
        self.bar.close()
