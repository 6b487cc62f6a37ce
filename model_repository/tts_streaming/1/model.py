"""TEXT [1, 1] (+ SEED; SIGMA, DENOISER_STRENGTH with WaveGlow) -> a stream of responses (decoupled): AUDIO [1, n]
chunks at 22050 Hz, AUDIO_OFFSET (samples before the chunk), FINAL and STEP_LIMIT_REACHED (set on the last one).

Text normalization, Tacotron2 and the vocoder in one model: a request's chunks need its state from step to step
(its frames so far, its vocoder's noise or phases), and requests join the running decoder batch between decoder
steps (triton_speech.runtime.tts.streaming). A bad request gets its error as its only response.
"""

import numpy as np
import triton_python_backend_utils as pb_utils

from triton_speech.runtime.backend import ModelArgs, seed_inputs, serve_decoupled, text_inputs, waveglow_inputs
from triton_speech.runtime.errors import InputError
from triton_speech.runtime.model_settings import TTSStreamingSettings
from triton_speech.runtime.tts.griffin_lim import GriffinLimStream
from triton_speech.runtime.tts.sentences import sentence_sequences
from triton_speech.runtime.tts.streaming import StreamingSynthesizer, StreamJob, StreamScheduler
from triton_speech.runtime.tts.tacotron2 import DecoderSettings, Tacotron2Engine
from triton_speech.runtime.tts.text import check_normalization
from triton_speech.runtime.tts.waveglow import WaveGlowEngine, WaveGlowStream


class TritonPythonModel:
    def initialize(self, args):
        model = ModelArgs(args)
        settings = model.settings(TTSStreamingSettings)
        threads, device = settings.intra_op_threads, model.placement()
        loop = DecoderSettings(gate_threshold=settings.gate_threshold, max_decoder_steps=settings.max_decoder_steps)
        # The decoder's runs alternate with numpy vocoding in this process: ONNX Runtime must not spin between them.
        tacotron2 = Tacotron2Engine.load(model.directory, loop, threads, device, spinning=False)
        self.waveglow = None
        if settings.vocoder == "waveglow":
            self.waveglow = WaveGlowEngine.load(model.directory / settings.onnx_model, settings.sigma,
                                                settings.denoiser_strength, threads, device, spinning=False)
        self.iterations, self.context_frames = settings.iterations, settings.griffin_lim_context_frames
        self.max_text_chars, self.max_sentence_chars = settings.max_text_chars, settings.max_sentence_chars
        self.normalization = check_normalization(settings.text_normalization)
        block_frames, max_frames = settings.stream_block_frames, settings.max_mel_frames
        self.scheduler = StreamScheduler(lambda: StreamingSynthesizer(tacotron2, block_frames, max_frames))
        self.scheduler.start()

    def execute(self, requests):
        serve_decoupled(pb_utils, requests, self.start)
        return None

    def start(self, request, responder):
        texts = text_inputs(pb_utils, request, "TEXT", self.max_text_chars)
        if len(texts) != 1:
            raise InputError(f"TEXT has {len(texts)} rows: tts_streaming streams one text per request")
        sentences = sentence_sequences(texts[0], self.max_sentence_chars, "TEXT row 0", self.normalization)
        (seed,) = seed_inputs(pb_utils, request, 1)
        if self.waveglow is None:
            vocoder = lambda: GriffinLimStream(seed, self.iterations, self.context_frames)  # noqa: E731
        else:
            (sigma,), (strength,) = waveglow_inputs(pb_utils, request, 1, self.waveglow.sigma,
                                                    self.waveglow.denoiser_strength)
            vocoder = lambda: WaveGlowStream(self.waveglow, seed, sigma, strength)  # noqa: E731
        send = lambda chunk: responder.send(self.pack(chunk), final=chunk.final)  # noqa: E731
        self.scheduler.submit(StreamJob(sentences, seed, vocoder, send, responder.fail, responder.cancelled))

    @staticmethod
    def pack(chunk):
        return [pb_utils.Tensor("AUDIO", chunk.audio.reshape(1, -1)),
                pb_utils.Tensor("AUDIO_OFFSET", np.array([[chunk.offset]], dtype=np.int64)),
                pb_utils.Tensor("FINAL", np.array([[chunk.final]], dtype=bool)),
                pb_utils.Tensor("STEP_LIMIT_REACHED", np.array([[chunk.step_limit_reached]], dtype=bool))]

    def finalize(self):
        self.scheduler.stop()
