"""Write a Triton model repository from the descriptions in this package.

    python -m ensembles --asr-export build/export/quartznet --output model_repository

Configs are generated and validated first; only then is anything written. ``model.py`` files are
copied from ``model_repository/<name>/1/`` in this checkout (their one home) when the output is
elsewhere, and exported artifacts are hard-linked (or copied) into the version directories.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from ensembles import asr
from ensembles.settings import RepositorySettings
from ensembles.spec import ConfigError, Ensemble, PythonModel, to_text, validate_repository

SOURCE_REPOSITORY = Path(__file__).resolve().parent.parent / "model_repository"


def describe(asr_export: Path | None, settings: RepositorySettings) -> list[PythonModel | Ensemble]:
    described: list[PythonModel | Ensemble] = []
    if asr_export is not None:
        described += asr.models(asr_export, settings)
    if not described:
        raise ConfigError("nothing to build: give at least one exported model directory")
    return described


def build(output: Path, asr_export: Path | None, settings: RepositorySettings = RepositorySettings()) -> list[str]:
    """Build the repository in ``output``; returns the model names written."""
    described = describe(asr_export, settings)
    configs = {entry.name: entry.config() for entry in described}
    validate_repository(configs.values())
    for entry in described:
        if isinstance(entry, PythonModel):
            for name, source in entry.artifacts.items():
                if not Path(source).exists():
                    raise ConfigError(f"{entry.name}: artifact {source} not found (export first)")

    output = Path(output)
    for entry in described:
        model_dir = output / entry.name
        version_dir = model_dir / "1"
        version_dir.mkdir(parents=True, exist_ok=True)
        (model_dir / "config.pbtxt").write_text(to_text(configs[entry.name]))
        if isinstance(entry, PythonModel):
            _place(SOURCE_REPOSITORY / entry.name / "1" / "model.py", version_dir / "model.py")
            for name, source in entry.artifacts.items():
                _place(Path(source), version_dir / name)
    return list(configs)


def _place(source: Path, target: Path) -> None:
    if target.exists() and target.resolve() == source.resolve():
        return
    if target.exists() or target.is_symlink():
        target.unlink()
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _instances(values: list[str]) -> dict[str, int]:
    counts = {}
    for value in values:
        name, _, count = value.partition("=")
        if not count.isdigit():
            raise argparse.ArgumentTypeError(f"--instances takes MODEL=COUNT, got {value!r}")
        counts[name] = int(count)
    return counts


def main(argv: list[str] | None = None) -> int:
    defaults = RepositorySettings()
    parser = argparse.ArgumentParser(prog="python -m ensembles", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=SOURCE_REPOSITORY)
    parser.add_argument("--asr-export", type=Path, default=Path("build/export/quartznet"))
    parser.add_argument("--max-batch-size", type=int, default=defaults.max_batch_size)
    parser.add_argument("--max-queue-delay-us", type=int, default=defaults.max_queue_delay_us)
    parser.add_argument("--preferred-batch-sizes", type=int, nargs="*", default=list(defaults.preferred_batch_sizes))
    parser.add_argument("--instances", nargs="*", default=[], metavar="MODEL=COUNT")
    parser.add_argument("--max-audio-seconds", type=float, default=defaults.max_audio_seconds)
    parser.add_argument("--onnx-threads", type=int, default=defaults.onnx_threads)
    args = parser.parse_args(argv)
    settings = RepositorySettings(
        max_batch_size=args.max_batch_size,
        max_queue_delay_us=args.max_queue_delay_us,
        preferred_batch_sizes=tuple(args.preferred_batch_sizes),
        instances=_instances(args.instances),
        max_audio_seconds=args.max_audio_seconds,
        onnx_threads=args.onnx_threads,
    )
    try:
        names = build(args.output, args.asr_export, settings)
    except (ConfigError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"Model repository {args.output}: {', '.join(names)}")
    return 0
