"""SYMBOL_IDS, SENTENCE_LENGTHS (+ SEED) -> MEL [B, n_mel, F], MEL_LENGTH, STEP_LIMIT_REACHED.

The whole autoregressive decoder loop runs here, over ONNX Runtime sessions: one Triton request per
decoder step would cost milliseconds per frame.
"""

import numpy as np
import triton_python_backend_utils as pb_utils

from triton_speech.backend import ModelArgs, input_array, ragged_output, seed_inputs, serve
from triton_speech.errors import InputError
from triton_speech.tts import DecoderSettings, Tacotron2Engine, request_mels


class TritonPythonModel:
    def initialize(self, args):
        model = ModelArgs(args)
        settings = DecoderSettings(
            gate_threshold=float(model.parameter("gate_threshold")),
            max_decoder_steps=int(model.parameter("max_decoder_steps")),
        )
        self.engine = Tacotron2Engine.load(model.directory, settings, int(model.parameter("intra_op_threads", "0")))

    def execute(self, requests):
        return serve(pb_utils, requests, self.parse, lambda rows: request_mels(self.engine, rows), self.pack)

    def parse(self, request):
        ids = input_array(pb_utils, request, "SYMBOL_IDS")
        lengths = input_array(pb_utils, request, "SENTENCE_LENGTHS")
        if lengths.shape[0] != ids.shape[0]:
            raise InputError(f"SENTENCE_LENGTHS has {lengths.shape[0]} rows, SYMBOL_IDS {ids.shape[0]}")
        seeds = seed_inputs(pb_utils, request, ids.shape[0])
        rows = []
        for row, (row_ids, row_lengths) in enumerate(zip(ids, lengths)):
            row_lengths = row_lengths[row_lengths > 0]
            if row_lengths.size == 0 or row_lengths.sum() > row_ids.shape[0]:
                raise InputError(f"SENTENCE_LENGTHS of row {row} do not fit the {row_ids.shape[0]} SYMBOL_IDS")
            rows.append((np.split(row_ids[: row_lengths.sum()], np.cumsum(row_lengths)[:-1]), seeds[row]))
        return rows

    def pack(self, mels):
        limit = np.array([[m.hit_step_limit] for m in mels], dtype=bool)
        return ragged_output(pb_utils, "MEL", "MEL_LENGTH", [m.mel for m in mels], axis=-1) + [
            pb_utils.Tensor("STEP_LIMIT_REACHED", limit)
        ]
