"""python -m export quartznet [--nemo FILE] [--output DIR]"""

import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export", description="Export checkpoints to ONNX.")
    commands = parser.add_subparsers(dest="model", required=True)
    quartznet = commands.add_parser("quartznet", help="NeMo QuartzNet (.nemo) -> ONNX with lengths")
    quartznet.add_argument("--nemo", type=Path, help="EncDecCTCModel .nemo file (default: random 15x5 weights)")
    quartznet.add_argument("--output", type=Path, default=Path("build/export/quartznet"))
    quartznet.add_argument("--no-check", action="store_true", help="skip the parity checks against NeMo")
    args = parser.parse_args(argv)

    if args.model == "quartznet":
        from export import quartznet as module

        if args.nemo is not None and not args.nemo.is_file():
            print(f"error: {args.nemo} is not a file", file=sys.stderr)
            return 2
        info = module.export(args.nemo, args.output, check=not args.no_check)
        parity = info["parity"]
        print(f"Exported {info['source']} -> {args.output} ({info['parameters']:,} parameters); "
              f"parity vs NeMo: front-end {parity['frontend_max_abs']}, log-probs {parity['logprobs_max_abs']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
