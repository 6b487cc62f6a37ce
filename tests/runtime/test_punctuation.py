"""Serving-side punctuation: label application, NeMo-style windowing, batching, and input errors."""

import json
import string

import numpy as np
import pytest
import torch

from triton_speech.export.punctuator import export_punctuator
from triton_speech.models.punctuator import english_sentences, random_punctuator, write_nemo
from triton_speech.runtime.errors import InputError
from triton_speech.runtime.inputs import decode_utf8
from triton_speech.runtime.onnx import onnx_session
from triton_speech.runtime.punctuation import Punctuator, WordLabels, capitalize_first_letter, wordpiece_tokenizer

LABELS = {"punct": ["O", ",", ".", "?"], "capit": ["O", "U"], "pad_label": "O"}
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
TEST_WORDS = ["hello", "world", "how", "are", "you", "don", "twas", "elan", "cats", "stop"]
TEST_CHARS = string.ascii_lowercase + string.digits + "',.?!ωμεγα你好"
# Windows far smaller than the text, and a window holding all of it.
SMALL_WINDOWS = dict(max_seq_length=20, step=5, margin=4)
WHOLE = dict(max_seq_length=512, step=8, margin=16)
LONG_TEXT = " ".join(english_sentences(30, seed=7)) + " elephants telescope zebra"


@pytest.fixture(scope="module")
def vocab_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    tokens = SPECIAL_TOKENS + TEST_WORDS + list(TEST_CHARS) + [f"##{c}" for c in TEST_CHARS]
    path.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return path


class RuleLogits:
    """A fake model: confident labels for the tokens it has a rule for, the pad labels elsewhere."""

    def __init__(self, vocab_path, rules: dict[str, tuple[str, str]]):
        tokens = vocab_path.read_text(encoding="utf-8").splitlines()
        self.rules = {
            tokens.index(token): (LABELS["punct"].index(punct), LABELS["capit"].index(capit))
            for token, (punct, capit) in rules.items()
        }
        self.calls = []

    def __call__(self, input_ids, attention_mask, token_type_ids):
        self.calls.append(input_ids.shape)
        punct = np.zeros(input_ids.shape + (len(LABELS["punct"]),), np.float32)
        capit = np.zeros(input_ids.shape + (len(LABELS["capit"]),), np.float32)
        punct[..., 0] = capit[..., 0] = 5.0
        for token_id, (punct_id, capit_id) in self.rules.items():
            at = input_ids == token_id
            punct[at] = capit[at] = 0.0
            punct[at, punct_id] = capit[at, capit_id] = 5.0
        return punct, capit


def punctuate(vocab_path, rules, texts, **windows):
    return Punctuator(RuleLogits(vocab_path, rules), vocab_path, LABELS, **windows)(texts)


# ---------------------------------------------------------------------------------------------- labels


def test_labels_are_read_at_each_word_first_subword_and_applied_after_the_word(vocab_path):
    rules = {"hello": (",", "U"), "how": ("O", "U"), "you": ("?", "O"), "##o": (".", "U")}
    # "##o" is never a first subword: its rule must not leak into "hello" or "how".
    assert punctuate(vocab_path, rules, ["hello world how are you"]) == ["Hello, world How are you?"]


def test_apostrophes_stay_inside_their_word(vocab_path):
    # "don't" is don ' t: one word, labelled at "don"; "'twas" is ' twas, labelled at "'".
    rules = {"don": (".", "U"), "'": (",", "U"), "t": ("?", "U"), "cats": (".", "O")}
    assert punctuate(vocab_path, rules, ["don't stop 'twas cats' t"]) == ["Don't. stop 'Twas, cats'. T?"]


def test_numbers_take_punctuation_but_are_not_capitalized(vocab_path):
    rules = {"3": (".", "U"), "4": (",", "U")}
    assert punctuate(vocab_path, rules, ["stop 3 cats 3rd 42 1,000"]) == ["stop 3. cats 3rd. 42, 1,000"]


def test_existing_punctuation_is_kept_and_never_doubled(vocab_path):
    rules = {"hello": (",", "U"), "world": (".", "O"), "how": ("?", "U"), "you": ("?", "O"), "stop": (".", "U")}
    text = "hello, world. how! are you? stop"
    assert punctuate(vocab_path, rules, [text]) == ["Hello, world. How! are you? Stop."]


def test_unicode_words_keep_their_letters_and_whitespace(vocab_path):
    # BERT normalization strips accents for the lookup only; the output keeps the original characters.
    rules = {"elan": ("O", "U"), "ω": (",", "U"), "你": (".", "U"), "[UNK]": ("?", "O")}
    text = "élan  ωμέγα\n你好 👍\tcats"
    assert punctuate(vocab_path, rules, [text]) == ["Élan  Ωμέγα,\n你好. 👍?\tcats"]


def test_a_word_without_tokens_keeps_the_following_labels_aligned(vocab_path):
    # U+200B is no whitespace to str.split but normalizes to nothing: it must still count as one word.
    rules = {"hello": (",", "U"), "[UNK]": ("O", "O"), "world": (".", "U")}
    assert punctuate(vocab_path, rules, ["hello \u200b world"]) == ["Hello, \u200b World."]


def test_empty_and_blank_texts_pass_through_unchanged(vocab_path):
    fake = RuleLogits(vocab_path, {"hello": (".", "U")})
    punctuator = Punctuator(fake, vocab_path, LABELS)
    assert punctuator(["", "  \n ", "hello", ""]) == ["", "  \n ", "Hello.", ""]
    assert punctuator([]) == [] and punctuator(["", " "]) == ["", " "]
    assert len(fake.calls) == 1  # only the request with words ran the model


def test_capitalize_first_letter():
    cases = {"hello": "Hello", "iPhone": "IPhone", "'twas": "'Twas", '"quoted"': '"Quoted"', "3rd": "3rd",
             "élan": "Élan", "ǆungla": "ǅungla", "...": "...", "ß": "Ss"}
    assert {word: capitalize_first_letter(word) for word in cases} == cases


# ---------------------------------------------------------------------------------------------- windowing


class EdgePoisonLogits:
    """Labels from the token id, but confidently WRONG within ``margin`` subwords of each window edge.

    NeMo drops the inner margins of windows and keeps the text's own first and last ``margin`` subwords, so
    windowed predictions equal one whole-text window exactly only if the margins are handled like NeMo's.
    """

    def __init__(self, margin: int):
        self.margin = margin

    def __call__(self, input_ids, attention_mask, token_type_ids):
        subword = np.arange(input_ids.shape[1])[None] - 1  # position in the window after [CLS]
        window_length = attention_mask.sum(axis=1, keepdims=True) - 2
        edge = (subword < self.margin) | (subword >= window_length - self.margin)
        outputs = []
        for classes in (len(LABELS["punct"]), len(LABELS["capit"])):
            right = input_ids % classes
            label = np.where(edge, (right + 1) % classes, right)
            outputs.append(np.eye(classes, dtype=np.float32)[label] * np.where(edge, 20.0, 5.0)[..., None])
        return outputs


@pytest.mark.parametrize("windows", [SMALL_WINDOWS, dict(max_seq_length=16, step=8, margin=4),
                                     dict(max_seq_length=12, step=3, margin=0)])
def test_windows_merge_like_nemo(small_export, windows):
    vocab = small_export / "vocab.txt"
    fake = EdgePoisonLogits(windows["margin"])
    windowed = Punctuator(fake, vocab, LABELS, **windows).predict([LONG_TEXT])[0]
    whole = Punctuator(fake, vocab, LABELS, **WHOLE).predict([LONG_TEXT])[0]
    assert len(windowed.spans) > 100
    np.testing.assert_array_equal(windowed.punct_ids, whole.punct_ids)
    np.testing.assert_array_equal(windowed.capit_ids, whole.capit_ids)


class CountingSession:
    def __init__(self, session):
        self.session, self.batches = session, []

    def __call__(self, input_ids, attention_mask, token_type_ids):
        self.batches.append(input_ids.shape)
        feeds = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        return self.session.run(["punct_logits", "capit_logits"], feeds)


@pytest.fixture(scope="module")
def small_export(tmp_path_factory):
    output = tmp_path_factory.mktemp("punctuator")
    export_punctuator(None, output)
    return output


@pytest.fixture(scope="module")
def context_free_export(tmp_path_factory):
    """The small random model made blind to context and position (no attention output, no position
    embeddings): a word's labels then cannot depend on the window it is seen in."""
    punctuator = random_punctuator(seed=1)
    bert = punctuator.model.bert_model
    with torch.no_grad():
        bert.embeddings.position_embeddings.weight.zero_()
        for layer in bert.encoder.layer:
            layer.attention.output.dense.weight.zero_()
            layer.attention.output.dense.bias.zero_()
    directory = tmp_path_factory.mktemp("context_free")
    write_nemo(directory / "context_free.nemo", punctuator.model, punctuator.vocab, punctuator.config)
    export_punctuator(directory / "context_free.nemo", directory / "export")
    return directory / "export"


def test_long_text_in_windows_gets_the_labels_of_one_whole_window_real_onnx(context_free_export):
    session = CountingSession(onnx_session(context_free_export / "model.onnx"))
    labels = json.loads((context_free_export / "labels.json").read_text())
    vocab = context_free_export / "vocab.txt"
    windowed = Punctuator(session, vocab, labels, **SMALL_WINDOWS).predict([LONG_TEXT])[0]
    assert len(session.batches) == 1 and session.batches[0][0] > 20  # all windows in one run
    whole = Punctuator(session, vocab, labels, **WHOLE).predict([LONG_TEXT])[0]
    assert session.batches[1][0] == 1
    assert len(set(whole.punct_ids.tolist())) > 1 and len(set(whole.capit_ids.tolist())) > 1
    np.testing.assert_array_equal(windowed.punct_ids, whole.punct_ids)
    np.testing.assert_array_equal(windowed.capit_ids, whole.capit_ids)


def test_texts_batched_together_get_their_alone_scores_real_onnx(small_export):
    session = CountingSession(onnx_session(small_export / "model.onnx"))
    punctuator = Punctuator(session, small_export / "vocab.txt", LABELS, **SMALL_WINDOWS)
    texts = ["", LONG_TEXT, "how are you", " ".join(english_sentences(4, seed=3))]
    together = punctuator.predict(texts)
    assert len(session.batches) == 1
    for text, batched in zip(texts, together):
        (alone,) = punctuator.predict([text])
        np.testing.assert_allclose(batched.punct_scores, alone.punct_scores, atol=1e-4)
        np.testing.assert_allclose(batched.capit_scores, alone.capit_scores, atol=1e-4)
    assert punctuator(texts)[0] == ""


def test_max_windows_per_run_splits_the_batch_without_changing_results(small_export):
    session = CountingSession(onnx_session(small_export / "model.onnx"))
    vocab = small_export / "vocab.txt"
    one_run = Punctuator(session, vocab, LABELS, **SMALL_WINDOWS)([LONG_TEXT, "how are you"])
    chunked = Punctuator(session, vocab, LABELS, **SMALL_WINDOWS, max_windows_per_run=7)([LONG_TEXT, "how are you"])
    assert chunked == one_run and len(session.batches) > 3 and max(b[0] for b in session.batches[1:]) == 7


def test_load_reads_the_export_settings(small_export):
    punctuator = Punctuator.load(small_export)
    info = json.loads((small_export / "export.json").read_text())
    windows = (punctuator.max_seq_length, punctuator.step, punctuator.margin)
    assert windows == (info["max_seq_length"], info["step"], info["margin"])
    (result,) = punctuator([LONG_TEXT])
    # Only marks added and letters capitalized: removing both gives the input back.
    assert result != LONG_TEXT and result.lower().translate(str.maketrans("", "", ",.?")) == LONG_TEXT


def test_tokenizer_matches_the_trained_wordpiece_vocabulary(small_export):
    tokenizer = wordpiece_tokenizer(small_export / "vocab.txt")
    assert tokenizer.encode("Élan", add_special_tokens=False).tokens == ["e", "##l", "##a", "##n"]
    assert tokenizer.encode("don't", add_special_tokens=False).tokens == ["don", "'", "t"]


# ---------------------------------------------------------------------------------------------- errors


def test_decode_utf8_accepts_text_within_the_limit():
    assert decode_utf8("élan 你好".encode(), max_chars=7) == "élan 你好"  # characters, not bytes, count


@pytest.mark.parametrize("raw, max_chars, message", [
    (b"caf\xe9 au lait", 100, "not valid UTF-8: byte 0xe9 at offset 3"),
    (b"\xf0\x9f\x91", 100, "not valid UTF-8"),
    ("x" * 11, 10, None),
    (b"x" * 11, 10, "11 characters long; the limit is 10"),
])
def test_decode_utf8_errors_name_the_problem(raw, max_chars, message):
    with pytest.raises(InputError, match="must be bytes" if message is None else message):
        decode_utf8(raw, max_chars)


def test_invalid_requests_raise_input_errors(vocab_path):
    punctuator = Punctuator(RuleLogits(vocab_path, {}), vocab_path, LABELS)
    with pytest.raises(InputError, match="text 1 is bytes"):
        punctuator(["fine", b"not decoded"])
    with pytest.raises(InputError, match="list of texts"):
        punctuator("a single string")


@pytest.mark.parametrize("windows", [dict(max_seq_length=2), dict(max_seq_length=20, margin=9), dict(step=0)])
def test_impossible_window_settings_are_refused(vocab_path, windows):
    with pytest.raises(ValueError):
        Punctuator(RuleLogits(vocab_path, {}), vocab_path, LABELS, **windows)


def test_a_model_with_other_label_counts_is_refused(vocab_path):
    punctuator = Punctuator(RuleLogits(vocab_path, {}), vocab_path, dict(LABELS, punct=["O", "."]))
    with pytest.raises(RuntimeError, match="punct_logits has shape"):
        punctuator(["hello"])


def test_word_labels_report_scores_per_word(vocab_path):
    (labels,) = Punctuator(RuleLogits(vocab_path, {"you": ("?", "O")}), vocab_path, LABELS).predict(["how are you"])
    assert isinstance(labels, WordLabels) and labels.spans == [(0, 3), (4, 7), (8, 11)]
    assert labels.punct_ids.tolist() == [0, 0, 3] and labels.punct_scores.shape == (3, 4)


# ------------------------------------------------------- properties on arbitrary text (hypothesis)

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


class RandomLogits:
    """Random logits for every position: any labelling the pre/post-processing may meet."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def __call__(self, input_ids, attention_mask, token_type_ids):
        shape = input_ids.shape
        return (self.rng.normal(size=shape + (len(LABELS["punct"]),)).astype(np.float32),
                self.rng.normal(size=shape + (len(LABELS["capit"]),)).astype(np.float32))


def strip_labels(text: str) -> list[str]:
    """Words as a punctuator may change them undone: case folded, trailing added marks removed."""
    return [word.casefold().rstrip(",.?") for word in text.split()]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.text(max_size=120), min_size=1, max_size=4), seed=st.integers(0, 2**16),
       windows=st.sampled_from([SMALL_WINDOWS, WHOLE]))
def test_punctuation_only_capitalizes_and_appends_marks_on_any_text(vocab_path, texts, seed, windows):
    punctuated = Punctuator(RandomLogits(seed), vocab_path, LABELS, **windows)(texts)
    assert len(punctuated) == len(texts)
    for before, after in zip(texts, punctuated):
        assert strip_labels(after) == strip_labels(before)
        # Whitespace between words is kept as it was.
        assert [c for c in after if c.isspace()] == [c for c in before if c.isspace()]
