"""Serving settings of the repository builder (batching, instances, limits)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ensembles.spec import Batching
from triton_speech.ctc import DEFAULT_BEAM_SIZE
from triton_speech.tts import GRIFFIN_LIM_ITERATIONS


@dataclass(frozen=True)
class RepositorySettings:
    max_batch_size: int = 16
    max_queue_delay_us: int = 2000
    preferred_batch_sizes: tuple[int, ...] = ()
    # model name -> instance count; models not named get one instance
    instances: Mapping[str, int] = field(default_factory=dict)
    max_audio_seconds: float = 60.0
    # CTC decoding: greedy, or (given a word list, one word per line) beam search whose words are all listed
    lexicon: str = ""
    ctc_beam_size: int = DEFAULT_BEAM_SIZE
    # Punctuator text limit: a 60 s transcript is ~1000 characters; long texts are windowed, not cut
    max_punctuation_chars: int = 5000
    # ONNX Runtime intra-op threads per model instance (0: ONNX Runtime's default, all cores)
    onnx_threads: int = 0
    # TTS: request text limit, sentence length the text is split to, decoder loop and vocoder defaults
    max_text_chars: int = 1000
    max_sentence_chars: int = 250
    # The longest audio one tts request yields (about twice what max_text_chars of speech takes): Tacotron2 cuts a
    # request's mel there (reported as the step limit) and the vocoders refuse longer mels
    max_speech_seconds: float = 150.0
    gate_threshold: float = 0.5
    max_decoder_steps: int = 2000
    sigma: float = 0.666
    denoiser_strength: float = 0.0
    # The vocoder: "waveglow", or "griffin_lim" (no weights; no waveglow export needed)
    vocoder: str = "waveglow"
    griffin_lim_iterations: int = GRIFFIN_LIM_ITERATIONS

    def batching(self, model: str) -> Batching:
        return Batching(
            max_batch_size=self.max_batch_size,
            max_queue_delay_us=self.max_queue_delay_us,
            preferred_batch_sizes=self.preferred_batch_sizes,
            instance_count=int(self.instances.get(model, 1)),
        )
