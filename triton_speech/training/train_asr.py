"""Train the small default QuartzNet on the synthetic corpus with NeMo 3.0 (CPU is enough).

    python -m export.train_asr --data build/data --output defaults/quartznet_small.nemo   (make train-asr)

The model is a QuartzNet 5x3 with narrow channels (1.03 M parameters): one block per group, five groups,
the kernel sizes of QuartzNet 15x5. It is saved as a regular ``.nemo`` that ``python -m export quartznet --nemo``
exports like any NGC checkpoint.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import torch

from triton_speech.defaults import ASR_SAMPLE_RATE
from triton_speech.models.quartznet import ENGLISH_LABELS, quartznet_config

# QuartzNet 5x3, narrow, kernels of 15x5: trainable on a 2-core CPU (the shipped one's runs:
# defaults/quartznet_small.json).
SMALL = dict(
    repeat=3, blocks_per_group=1, group_filters=(128, 128, 192, 192, 256), group_kernels=(33, 39, 51, 63, 75),
    prologue=(128, 33), epilogue=((256, 87, 2, True), (512, 1, 1, False)),
)


def training_config(train_manifest: Path, validation_manifest: Path, batch_size: int, lr: float,
                    warmup_steps: int) -> dict:
    config = quartznet_config(**SMALL)
    dataset = {"sample_rate": ASR_SAMPLE_RATE, "labels": ENGLISH_LABELS, "batch_size": batch_size, "num_workers": 0,
               "pin_memory": False, "trim_silence": False, "max_duration": 20.0}
    config["preprocessor"]["dither"] = 1e-5
    config["train_ds"] = {**dataset, "manifest_filepath": str(train_manifest), "shuffle": True}
    config["validation_ds"] = {**dataset, "manifest_filepath": str(validation_manifest), "shuffle": False}
    config["spec_augment"] = {"_target_": "nemo.collections.asr.modules.SpectrogramAugmentation",
                              "freq_masks": 2, "time_masks": 3, "freq_width": 15, "time_width": 0.05}
    config["optim"] = {"name": "adamw", "lr": lr, "betas": [0.9, 0.98], "weight_decay": 1e-3,
                       "sched": {"name": "CosineAnnealing", "warmup_steps": warmup_steps, "min_lr": lr / 100}}
    return config


def train(data: Path, output: Path, epochs: int, batch_size: int = 16, lr: float = 3e-3, seed: int = 0,
          validation_items: int = 60, init: Path | None = None) -> dict:
    import lightning.pytorch as pl
    from nemo.collections.asr.models import EncDecCTCModel
    from omegaconf import OmegaConf

    logging.getLogger("nemo_logger").setLevel(logging.WARNING)
    torch.manual_seed(seed)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    data = Path(data)
    validation = data / "validation.json"  # a slice of the held-out set, watched during training
    validation.write_text("".join((data / "heldout.json").read_text().splitlines(keepends=True)[:validation_items]))
    train_items = len((data / "train.json").read_text().splitlines())
    steps_per_epoch = -(-train_items // batch_size)
    config = training_config(data / "train.json", validation, batch_size, lr, warmup_steps=steps_per_epoch)

    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)

    class SaveEachEpoch(pl.Callback):
        """A long CPU run can be cut off: keep the latest epoch's model as a usable .nemo."""

        def on_train_epoch_end(self, trainer, module):
            module.save_to(str(output))

    trainer = pl.Trainer(accelerator="cpu", devices=1, max_epochs=epochs, logger=False, enable_checkpointing=False,
                         log_every_n_steps=25, num_sanity_val_steps=0, gradient_clip_val=1.0,
                         callbacks=[SaveEachEpoch()])
    model = EncDecCTCModel(cfg=OmegaConf.create(config), trainer=trainer)
    if init is not None:  # continue from an earlier run (same architecture)
        model.load_state_dict(EncDecCTCModel.restore_from(str(init), map_location="cpu").state_dict())
    started = time.time()
    trainer.fit(model)
    minutes = (time.time() - started) / 60
    model.eval()
    model.save_to(str(output))
    summary = {"epochs": epochs, "train_utterances": train_items, "training_minutes": round(minutes, 1),
               "parameters": sum(p.numel() for p in model.parameters()), "checkpoint": str(output), "lr": lr,
               "batch_size": batch_size}
    earlier = None if init is None else Path(init).with_suffix(".json")
    if earlier is not None and earlier.exists():  # the run this one continued
        summary["continued_from"] = json.loads(earlier.read_text())
    output.with_suffix(".json").write_text(json.dumps(summary, indent=1))
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export.train_asr", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("build/data"))
    parser.add_argument("--output", type=Path, default=Path("defaults/quartznet_small.nemo"))
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--init", type=Path, default=None, help="start from this .nemo (same architecture)")
    args = parser.parse_args(argv)
    print(json.dumps(train(args.data, args.output, args.epochs, args.batch_size, args.lr, init=args.init), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
