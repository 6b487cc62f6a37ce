"""The table of bad inputs to every served model, with the message each must get."""

from __future__ import annotations

import numpy as np

from tests.support.repository import TEST_MAX_AUDIO_SECONDS, TEST_MAX_LONG_AUDIO_SECONDS, TEST_SETTINGS

# The test repository's frame limit for quartznet and ctc_decoder: the frames of TEST_MAX_AUDIO_SECONDS.
MAX_FRAMES = int(TEST_MAX_AUDIO_SECONDS * 100)


def f32(*shape, fill=0.1):
    return np.full(shape, fill, dtype=np.float32)


def i64(values):
    return np.array(values, dtype=np.int64)


def text(*rows):
    return np.array([[r] for r in rows], dtype=np.object_)


def with_nan(array, index=(0, 0, 1)):
    array = array.copy()
    array[index] = np.nan
    return array


def tiny_mel(frames, fill=0.1):
    return f32(1, 16, frames, fill=fill)


# model -> case -> (inputs, outputs asked for, message). Inputs any client can send, also to an ensemble's steps.
BAD_INPUTS = {
    "feature_extractor": {
        "zero length": ({"AUDIO": f32(1, 1600), "AUDIO_LENGTH": np.array([[0]], dtype=np.int32)},
                        r"AUDIO_LENGTH of row 0 is 0: it must be between 1 and the 1600 samples sent"),
        "negative length": ({"AUDIO": f32(2, 1600), "AUDIO_LENGTH": np.array([[1600], [-5]], dtype=np.int32)},
                            r"AUDIO_LENGTH of row 1 is -5"),
    },
    "quartznet": {
        "nan": ({"FEATURES": with_nan(f32(1, 64, 50)), "FEATURES_LENGTH": i64([[50]])},
                r"FEATURES row 0 contains 1 NaN or Inf values"),
        "too long": ({"FEATURES": f32(1, 64, MAX_FRAMES + 1), "FEATURES_LENGTH": i64([[MAX_FRAMES + 1]])},
                     rf"FEATURES row 0 has length {MAX_FRAMES + 1}; the limit is {MAX_FRAMES}"),
        "zero length": ({"FEATURES": f32(1, 64, 50), "FEATURES_LENGTH": i64([[0]])},
                        r"FEATURES: length 0 of row 0 is outside 1..50"),
    },
    "ctc_decoder": {
        "nan": ({"LOGPROBS": with_nan(f32(2, 40, 29)), "LOGPROBS_LENGTH": i64([[40], [40]])},
                r"LOGPROBS row 0 contains 1 NaN or Inf values"),
        "inf in row 1": ({"LOGPROBS": with_nan(f32(2, 40, 29), (1, 3, 3)) * np.float32(np.inf),
                          "LOGPROBS_LENGTH": i64([[40], [40]])}, r"LOGPROBS row 0 contains \d+ NaN or Inf"),
        "too long": ({"LOGPROBS": f32(1, MAX_FRAMES + 1, 29), "LOGPROBS_LENGTH": i64([[MAX_FRAMES + 1]])},
                     rf"LOGPROBS row 0 has length {MAX_FRAMES + 1}; the limit is {MAX_FRAMES}"),
    },
    "asr_long": {
        "nan in row 1": ({"AUDIO": with_nan(f32(2, 1600), (1, 700))}, r"AUDIO row 1 contains 1 NaN or Inf samples"),
        "too long": ({"AUDIO": f32(1, int(TEST_MAX_LONG_AUDIO_SECONDS * 16000) + 1600)},
                     r"AUDIO row 0 is 40.10 s long; the limit is 40 s \(max_long_audio_seconds\)"),
    },
    "punctuator": {
        "not utf-8": ({"TEXT": text(b"fine", b"\xff\xfe")}, r"TEXT row 1 is not valid UTF-8: byte 0xff at offset 0"),
        "too long": ({"TEXT": text(b"a" * (TEST_SETTINGS["max_punctuation_chars"] + 1))},
                     rf"TEXT row 0 is {TEST_SETTINGS['max_punctuation_chars'] + 1} characters long; the limit"),
    },
    "text_normalizer": {
        "nothing to say in row 1": ({"TEXT": text(b"Hello.", b"!!!")}, r"TEXT row 1 has no speakable characters"),
    },
    "tacotron2": {
        "symbol out of range": ({"SYMBOL_IDS": i64([[5, 6, 9999]]), "SENTENCE_LENGTHS": i64([[3]])},
                                r"SYMBOL_IDS row 0 has ids outside 0..147"),
        "lengths beyond ids": ({"SYMBOL_IDS": i64([[5, 6, 7]]), "SENTENCE_LENGTHS": i64([[2, 2]])},
                               r"SENTENCE_LENGTHS row 0 adds up to 4, more than the 3 SYMBOL_IDS sent"),
        "negative length": ({"SYMBOL_IDS": i64([[5, 6, 7]]), "SENTENCE_LENGTHS": i64([[3, -1]])},
                            r"SENTENCE_LENGTHS row 0 must be positive lengths followed by 0 padding"),
        "negative seed": ({"SYMBOL_IDS": i64([[5, 6, 7]]), "SENTENCE_LENGTHS": i64([[3]]), "SEED": i64([[-1]])},
                          r"SEED must be non-negative"),
    },
    "waveglow": {
        "nan mel": ({"MEL": with_nan(tiny_mel(10)), "MEL_LENGTH": i64([[10]])}, r"MEL row 0 contains 1 NaN or Inf"),
        "too long": ({"MEL": tiny_mel(12920), "MEL_LENGTH": i64([[12920]])},
                     r"MEL row 0 has length 12920; the limit is 12919"),
        "nan sigma": ({"MEL": tiny_mel(10), "MEL_LENGTH": i64([[10]]), "SIGMA": np.array([[np.nan]], np.float32)},
                      r"SIGMA must be finite"),
        "negative denoiser": ({"MEL": tiny_mel(10), "MEL_LENGTH": i64([[10]]),
                               "DENOISER_STRENGTH": np.array([[-1]], np.float32)},
                              r"DENOISER_STRENGTH must be a finite non-negative number"),
    },
    "tts": {
        "empty": ({"TEXT": text(b"")}, r"TEXT row 0: text is empty: send at least one word"),
        "unknown phone in row 1": ({"TEXT": text(b"Hi.", b"{HH AX0 QQ}")}, r"TEXT row 1: unknown ARPAbet phone"),
        "not utf-8 in row 1": ({"TEXT": text(b"Hi.", b"caf\xe9")}, r"TEXT row 1 is not valid UTF-8"),
    },
}
CASES = [(model, case) for model, cases in BAD_INPUTS.items() for case in cases]
