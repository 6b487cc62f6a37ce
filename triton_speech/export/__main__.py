"""python -m export {quartznet,punctuator,tacotron2,waveglow} [checkpoint] [--output DIR]
python -m export tensorrt [...]   (TensorRT engines of the exported graphs: python -m export tensorrt --help)

Without a checkpoint each export builds the published architecture with deterministic random weights
and says so loudly.
"""

import argparse
import json
import sys
from pathlib import Path

from triton_speech.defaults import SIGMA
from triton_speech.runtime.tts.text import NORMALIZATIONS


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["tensorrt"]:
        from triton_speech.export.tensorrt import main as tensorrt

        return tensorrt(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="model", required=True)
    quartznet = commands.add_parser("quartznet", help="NeMo QuartzNet (.nemo) -> ONNX with lengths")
    quartznet.add_argument("--nemo", type=Path, help="EncDecCTCModel .nemo file (default: random 15x5 weights)")
    punctuator = commands.add_parser("punctuator", help="NeMo BERT punctuation + capitalization (.nemo) -> ONNX")
    punctuator.add_argument("--nemo", type=Path, help="punctuation_en_bert.nemo (default: small random model)")
    punctuator.add_argument("--vocab", type=Path, help="WordPiece vocab.txt, if the .nemo archive lacks one")
    tacotron2 = commands.add_parser("tacotron2", help="DeepLearningExamples Tacotron2 checkpoint -> 3 ONNX graphs")
    tacotron2.add_argument("--checkpoint", type=Path, help="nvidia_tacotron2pyt_fp16/fp32 .pt (default: random)")
    tacotron2.add_argument("--text-normalization", choices=NORMALIZATIONS,
                           help="the text front-end the checkpoint was trained with, recorded for serving (default: "
                                "what its config records, else dle: DeepLearningExamples' english_cleaners)")
    waveglow = commands.add_parser("waveglow", help="DeepLearningExamples WaveGlow checkpoint -> ONNX")
    waveglow.add_argument("--checkpoint", type=Path, help="nvidia_waveglow256pyt_fp16 .pt (default: random)")
    waveglow.add_argument("--sigma", type=float, default=SIGMA, help="default noise scale recorded with the export")
    for command in (quartznet, punctuator, tacotron2, waveglow):
        command.add_argument("--output", type=Path, default=None, help="default: build/export/MODEL")
        command.add_argument("--no-check", action="store_true", help="skip the parity checks")
    args = parser.parse_args(argv)

    source = getattr(args, "nemo", None) or getattr(args, "checkpoint", None)
    if source is not None and not source.is_file():
        print(f"error: {source} is not a file", file=sys.stderr)
        return 2
    output = args.output or Path("build/export") / args.model
    check = not args.no_check
    if args.model == "quartznet":
        from triton_speech.export.quartznet import export

        info = export(args.nemo, output, check=check)
    elif args.model == "punctuator":
        from triton_speech.export.punctuator import export_punctuator

        info = export_punctuator(args.nemo, output, vocab=args.vocab, check=check)
    elif args.model == "tacotron2":
        from triton_speech.export.tacotron2 import export_tacotron2

        info = export_tacotron2(args.checkpoint, output, check=check, text_normalization=args.text_normalization)
    else:
        from triton_speech.export.waveglow import export_waveglow

        info = export_waveglow(args.checkpoint, output, sigma=args.sigma, check=check)
    print(f"Exported {info['source']} -> {output}; parity: {json.dumps(info.get('parity'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
