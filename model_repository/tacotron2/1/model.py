"""SYMBOL_IDS, SENTENCE_LENGTHS (+ SEED) -> MEL [B, n_mel, F], MEL_LENGTH, STEP_LIMIT_REACHED.

The whole autoregressive decoder loop runs here, over ONNX Runtime sessions: one Triton request per
decoder step would cost milliseconds per frame.
"""

import numpy as np
import triton_python_backend_utils as pb_utils

from triton_speech.runtime.backend import ModelArgs, input_array, ragged_output, seed_inputs, serve
from triton_speech.runtime.model_settings import Tacotron2Settings
from triton_speech.runtime.tts.sentences import unpack_sentences
from triton_speech.runtime.tts.tacotron2 import DecoderSettings, Tacotron2Engine, request_mels


class TritonPythonModel:
    def initialize(self, args):
        model = ModelArgs(args)
        settings = model.settings(Tacotron2Settings)
        loop = DecoderSettings(gate_threshold=settings.gate_threshold, max_decoder_steps=settings.max_decoder_steps)
        self.engine = Tacotron2Engine.load(model.directory, loop, settings.intra_op_threads, model.placement())
        self.max_symbols, self.max_frames = settings.max_symbols, settings.max_mel_frames

    def execute(self, requests):
        return serve(pb_utils, requests, self.parse, self.compute, self.pack)

    def parse(self, request):
        sentences = unpack_sentences(input_array(pb_utils, request, "SYMBOL_IDS"),
                                     input_array(pb_utils, request, "SENTENCE_LENGTHS"),
                                     self.engine.n_symbols, self.max_symbols)
        return list(zip(sentences, seed_inputs(pb_utils, request, len(sentences))))

    def compute(self, rows):
        return request_mels(self.engine, rows, self.max_frames)

    def pack(self, mels):
        limit = np.array([[m.hit_step_limit] for m in mels], dtype=bool)
        return ragged_output(pb_utils, "MEL", "MEL_LENGTH", [m.mel for m in mels], axis=-1) + [
            pb_utils.Tensor("STEP_LIMIT_REACHED", limit)
        ]
