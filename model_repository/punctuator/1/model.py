"""TEXT [B, 1] -> PUNCTUATED_TEXT [B, 1] (BERT punctuation and capitalization, windowed) and
UNPUNCTUATED_TEXT [B, 1] (the text as received: an ensemble's raw-transcript output comes from here).

The BERT network runs here (ONNX Runtime), or, given a ``network`` parameter (the NGC target), in that served
model (Triton's native ONNX Runtime backend) through BLS: tokenizing and labelling stay in python."""

import triton_python_backend_utils as pb_utils

from triton_speech.runtime.backend import ModelArgs, bytes_column, serve, served_model, text_inputs
from triton_speech.runtime.model_settings import PunctuatorSettings
from triton_speech.runtime.punctuation import INPUT_NAMES, OUTPUT_NAMES, Punctuator


class TritonPythonModel:
    def initialize(self, args):
        model = ModelArgs(args)
        settings = model.settings(PunctuatorSettings)
        self.max_chars = settings.max_text_chars
        network = settings.network
        self.punctuator = Punctuator.load(
            model.directory, settings.intra_op_threads, model.placement(),
            logits=served_model(pb_utils, network, INPUT_NAMES, OUTPUT_NAMES) if network else None,
            max_windows_per_run=settings.max_windows_per_run or None)

    def execute(self, requests):
        # Every window of every text in the dynamic batch runs as one ONNX Runtime batch.
        return serve(pb_utils, requests, self.parse, self.compute, self.pack)

    def parse(self, request):
        return text_inputs(pb_utils, request, "TEXT", self.max_chars)

    def compute(self, texts):
        return list(zip(self.punctuator(texts), texts))

    def pack(self, rows):
        punctuated, received = zip(*rows)
        return [pb_utils.Tensor("PUNCTUATED_TEXT", bytes_column(punctuated)),
                pb_utils.Tensor("UNPUNCTUATED_TEXT", bytes_column(received))]
