"""Write a Triton model repository from the descriptions in this package.

    python -m ensembles --output model_repository   # exports from build/export/{quartznet,punctuator,...}

Configs are generated and validated first; only then is anything written. ``model.py`` files are
copied from ``model_repository/<name>/1/`` in this checkout (their one home) when the output is
elsewhere, and exported artifacts are hard-linked (or copied) into the version directories.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from dataclasses import dataclass, fields
from pathlib import Path

from triton_speech.ensembles import asr, punctuation, tts
from triton_speech.ensembles.settings import TARGETS, RepositorySettings, default_precision
from triton_speech.ensembles.spec import (
    GENERATED_HEADER,
    WARMUP_DIR,
    ConfigError,
    Ensemble,
    NativeModel,
    PythonModel,
    to_text,
    validate_graph,
    validate_repository,
)
from triton_speech.ensembles.tts import VOCODERS
from triton_speech.export.precision import PRECISIONS
from triton_speech.runtime.asr.streaming import PARTIALS

SOURCE_REPOSITORY = Path(__file__).resolve().parents[2] / "model_repository"
# Settings with a fixed set of values (argparse lists them in --help).
CHOICES = {"target": TARGETS, "device": ("cpu", "gpu"), "precision": PRECISIONS, "vocoder": VOCODERS,
           "stream_partials": PARTIALS}


@dataclass(frozen=True)
class Exports:
    """Exported artifact directories; a pipeline whose exports are None is left out of the repository."""

    asr: Path | None = None
    punctuator: Path | None = None  # chained into asr after the CTC decoder (or served alone)
    tacotron2: Path | None = None
    waveglow: Path | None = None  # unused with the griffin_lim vocoder


def describe(exports: Exports, settings: RepositorySettings) -> list[PythonModel | NativeModel | Ensemble]:
    described: list[PythonModel | NativeModel | Ensemble] = []
    if exports.asr is not None:
        described += asr.models(exports.asr, settings, exports.punctuator)
    elif exports.punctuator is not None:
        described += punctuation.models(exports.punctuator, settings)
    if exports.tacotron2 is not None:
        described += tts.models(exports.tacotron2, exports.waveglow, settings)
    elif exports.waveglow is not None:
        raise ConfigError("the tts pipeline needs a tacotron2 export (and a waveglow one, or --vocoder griffin_lim)")
    if not described:
        raise ConfigError("nothing to build: give at least one exported model directory")
    return described


def build(output: Path, exports: Exports, settings: RepositorySettings = RepositorySettings()) -> list[str]:
    """Build the repository in ``output``; returns the model names written."""
    described = describe(exports, settings)
    configs = {entry.name: entry.config() for entry in described}
    validate_repository(configs.values())
    for entry in described:
        if isinstance(entry, (PythonModel, NativeModel)):
            for source in entry.artifacts.values():
                if not Path(source).exists():
                    raise ConfigError(f"{entry.name}: artifact {source} not found (export first)")
        if isinstance(entry, NativeModel):
            validate_graph(entry)

    output = Path(output)
    for entry in described:
        model_dir = output / entry.name
        version_dir = model_dir / "1"
        version_dir.mkdir(parents=True, exist_ok=True)
        (model_dir / "config.pbtxt").write_text(to_text(configs[entry.name]))
        shutil.rmtree(model_dir / WARMUP_DIR, ignore_errors=True)  # an earlier build's samples
        if isinstance(entry, PythonModel):
            _place(SOURCE_REPOSITORY / entry.name / "1" / "model.py", version_dir / "model.py")
        if isinstance(entry, (PythonModel, NativeModel)):
            for name, source in entry.artifacts.items():
                _place(Path(source), version_dir / name)
            for placed in version_dir.iterdir():  # what an earlier build placed for another vocoder
                if placed.is_file() and placed.name != "model.py" and placed.name not in entry.artifacts:
                    placed.unlink()
        if isinstance(entry, (PythonModel, NativeModel)):
            for name, data in entry.warmup_files().items():
                (model_dir / WARMUP_DIR).mkdir(exist_ok=True)
                (model_dir / WARMUP_DIR / name).write_bytes(data)
    _remove_stale(output, set(configs))
    return list(configs)


def _remove_stale(output: Path, built: set[str]) -> None:
    """Unbuild models an earlier build wrote that this one leaves out (another vocoder, ``--without``): their
    config.pbtxt and placed artifacts go, a model.py source stays. Directories not ours are not touched."""
    for model_dir in output.iterdir():
        config = model_dir / "config.pbtxt"
        if model_dir.name in built or not config.is_file():
            continue
        ours = config.read_text().startswith(GENERATED_HEADER) or (SOURCE_REPOSITORY / model_dir.name).is_dir()
        if not ours:
            continue
        config.unlink()
        shutil.rmtree(model_dir / WARMUP_DIR, ignore_errors=True)
        for placed in (model_dir / "1").glob("*"):
            if placed.name != "model.py" and placed.is_file():
                placed.unlink()
        if model_dir.resolve().parent != SOURCE_REPOSITORY.resolve():
            shutil.rmtree(model_dir)  # elsewhere the model.py was a copy too


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
    parser.add_argument("--punctuator-export", type=Path, default=Path("build/export/punctuator"))
    parser.add_argument("--tacotron2-export", type=Path, default=Path("build/export/tacotron2"))
    parser.add_argument("--waveglow-export", type=Path, default=Path("build/export/waveglow"))
    parser.add_argument("--without", nargs="*", choices=["asr", "punctuation", "tts"], default=[],
                        help="pipelines to leave out")
    parser.add_argument("--instances", nargs="*", default=[], metavar="MODEL=COUNT")
    for setting in fields(RepositorySettings):
        if setting.name == "instances":
            continue
        default = getattr(defaults, setting.name)
        flag = "--" + setting.name.replace("_", "-")
        if isinstance(default, tuple):
            parser.add_argument(flag, type=int, nargs="*", default=list(default))
        elif isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        elif setting.name == "precision":
            parser.add_argument(flag, choices=PRECISIONS, default=None,
                                help="default: int8 for the pip target on the CPU, else fp32 (default_precision)")
        else:
            parser.add_argument(flag, type=type(default), default=default, choices=CHOICES.get(setting.name))
    args = parser.parse_args(argv)
    args.precision = args.precision or default_precision(args.target, args.device)
    try:
        settings = RepositorySettings(**{
            f.name: _instances(args.instances) if f.name == "instances"
            else tuple(getattr(args, f.name)) if isinstance(getattr(defaults, f.name), tuple)
            else getattr(args, f.name)
            for f in fields(RepositorySettings)
        })
    except ConfigError as error:
        parser.error(str(error))
    exports = Exports(
        asr=None if "asr" in args.without else args.asr_export,
        punctuator=None if "punctuation" in args.without else args.punctuator_export,
        tacotron2=None if "tts" in args.without else args.tacotron2_export,
        waveglow=None if "tts" in args.without else args.waveglow_export,
    )
    try:
        names = build(args.output, exports, settings)
    except (ConfigError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"Model repository {args.output}: {', '.join(names)}")
    return 0
