"""Training the default Tacotron2 and WaveGlow (export/train_tts.py): the training math and the checkpoint format.

The flow's training direction must be the exact inverse of the inference the export serves, teacher forcing
must feed the frames the free-running decoder feeds itself, and the mel must be DLE's; a trained file must
load through the normal export path with ``strict=True``.
"""

from __future__ import annotations

import math
import shutil

import librosa
import numpy as np
import pytest
import torch

from tests.support.models import TINY_TACOTRON2, tiny_tacotron2, tiny_waveglow
from triton_speech.corpus.manifest import read_manifest
from triton_speech.export import tacotron2 as tts
from triton_speech.export import waveglow as waveglow_exporter
from triton_speech.models.dle import MelSpectrogram
from triton_speech.models.waveglow import WAVEGLOW_HOP
from triton_speech.runtime.tts.stft import SAMPLE_RATE
from triton_speech.runtime.tts.text import text_to_sequence
from triton_speech.training import train_tts

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is installed by make setup")


def test_waveglow_training_direction_is_the_inverse_of_inference():
    model = tiny_waveglow()
    torch.manual_seed(1)
    frames = 9
    mel, audio = torch.randn(2, 16, frames), 0.1 * torch.randn(2, frames * WAVEGLOW_HOP)
    with torch.no_grad():
        z, _, _ = model(mel, audio)
        assert z.shape == (2, model.n_group, frames * WAVEGLOW_HOP // model.n_group)
        assert torch.allclose(model.infer(mel, z, sigma=1.0), audio, atol=1e-5)


def test_waveglow_log_determinant_counts_every_group_of_every_item():
    model = tiny_waveglow()
    with torch.no_grad():
        for convinv in model.convinv:
            convinv.conv.weight.mul_(2.0)  # |det| = 2^channels
        _, _, log_det = model(torch.randn(3, 16, 4), torch.randn(3, 4 * WAVEGLOW_HOP))
    groups = 4 * WAVEGLOW_HOP // model.n_group
    channels = sum(convinv.conv.weight.size(0) for convinv in model.convinv)
    assert math.isclose(float(log_det), 3 * groups * channels * math.log(2.0), rel_tol=1e-5)


def test_teacher_forcing_with_its_own_frames_reproduces_free_running_decoding():
    model = tiny_tacotron2()
    text, text_length = torch.randint(1, 148, (2, 11)), torch.tensor([11, 6])
    masks = (torch.rand(15, 2, *model.prenet_shape) < 0.5).float() * 2
    with torch.no_grad():
        memory, processed, memory_mask = model.encode(text, text_length)
        state, frame, frames = model.decoder.initial_state(memory), torch.zeros(2, model.n_mel_channels), []
        for mask in masks:
            frame, _, *state = model.decoder.step(frame, mask, *state, memory, processed, memory_mask)
            frames.append(frame)
        free_running = torch.stack(frames, dim=2)
        mel, _, gates, alignments = model(text, text_length, free_running, masks)
    torch.testing.assert_close(mel, free_running, rtol=0, atol=1e-6)
    assert gates.shape == (2, 15) and alignments.shape == (2, 15, 11)
    assert torch.allclose(alignments.sum(dim=2), torch.ones(2, 15), atol=1e-5)


def test_mel_spectrogram_is_dle_tacotron_stft():
    rng = np.random.default_rng(0)
    audio = (0.3 * np.sin(2 * np.pi * 440 * np.arange(5000) / SAMPLE_RATE) + 0.01 * rng.standard_normal(5000))
    ours = MelSpectrogram()(torch.from_numpy(audio).float().unsqueeze(0))[0].numpy()
    magnitude = librosa.feature.melspectrogram(
        y=audio, sr=SAMPLE_RATE, n_fft=1024, hop_length=256, win_length=1024, power=1.0, n_mels=80, fmin=0.0,
        fmax=8000.0, center=True, pad_mode="reflect")
    assert ours.shape == (80, 1 + 5000 // WAVEGLOW_HOP)
    np.testing.assert_allclose(ours, np.log(np.maximum(magnitude, 1e-5)), atol=2e-3)
    # 440 Hz is loudest in the band around it.
    centre = librosa.mel_frequencies(82, fmin=0.0, fmax=8000.0)[1:-1]
    assert abs(centre[ours[:, 5:-5].mean(axis=1).argmax()] - 440) < 60


def test_guided_attention_penalises_off_diagonal_and_never_padding():
    penalty = train_tts.guided_attention_weights(torch.tensor([10, 5]), torch.tensor([20, 8]))
    assert penalty.shape == (2, 20, 10)
    assert float(penalty[0, 10, 5]) == pytest.approx(0.0, abs=1e-6)  # halfway through both
    assert float(penalty[0, 19, 0]) > 0.9  # last frame attending to the first character
    assert float(penalty[1, 8:].abs().sum()) == 0.0 and float(penalty[1, :, 5:].abs().sum()) == 0.0


def test_tacotron2_losses_fall_when_training_on_a_batch():
    torch.manual_seed(0)
    model = tiny_tacotron2().train()
    mel = torch.randn(2, TINY_TACOTRON2["n_mel_channels"], 12)
    batch = {"text": torch.randint(1, 148, (2, 7)), "text_length": torch.tensor([7, 5]), "mel": mel,
             "mel_length": torch.tensor([12, 9])}
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    totals = []
    for _ in range(40):
        losses = train_tts.tacotron2_losses(model, batch)
        assert set(losses) == {"mel", "postnet", "gate", "attention"}
        total = sum(losses.values())
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        totals.append(total.item())
    assert totals[-1] < 0.5 * totals[0]


def test_waveglow_loss_is_the_flow_negative_log_likelihood():
    model = tiny_waveglow()
    mel, audio = torch.randn(1, 16, 4), 0.1 * torch.randn(1, 4 * WAVEGLOW_HOP)
    with torch.no_grad():
        z, log_scale_sum, log_det_sum = model(mel, audio)
        expected = (0.5 * (z**2).sum() - log_scale_sum - log_det_sum) / z.numel()
        assert float(train_tts.waveglow_loss(model, mel, audio)) == pytest.approx(float(expected))


@needs_espeak
def test_trained_checkpoints_load_through_the_export_path(tmp_path, monkeypatch):
    """A few real training steps on a spoken corpus; the files load with strict=True and export."""
    train_tts.build_corpus(tmp_path / "data", count=4, seed=0, workers=1, exclude=[])
    corpus = train_tts.Corpus(tmp_path / "data", "dle")
    assert len(corpus) == 4 and (tmp_path / "data" / "features.pt").exists()
    assert all(m.shape[1] == 1 + a.numel() // WAVEGLOW_HOP for m, a in zip(corpus.mels, corpus.audio))

    tacotron2_record = train_tts.train_tacotron2(tmp_path / "data", tmp_path / "t.pt", minutes=5, max_steps=2,
                                                 batch_size=2, text_normalization="extended")
    waveglow_record = train_tts.train_waveglow(tmp_path / "data", tmp_path / "w.pt", minutes=5, max_steps=2,
                                               batch_size=2)
    assert tacotron2_record["steps"] == 2 and waveglow_record["steps"] == 2
    _, config = tts.build_tacotron2(tmp_path / "t.pt")
    assert config["encoder_embedding_dim"] == train_tts.SMALL_TACOTRON2["encoder_embedding_dim"]
    # The ids it learned from are recorded, and its export serves them
    assert config["text_normalization"] == tacotron2_record["text_normalization"] == "extended"
    items = read_manifest(tmp_path / "data" / "train.json")
    assert [ids.tolist() for ids in train_tts.Corpus(tmp_path / "data", "extended").ids] == [
        text_to_sequence(item["text"], "extended") for item in items]
    assert tts.export_tacotron2(tmp_path / "t.pt", tmp_path / "t_export", check=False)["text_normalization"] == \
        "extended"
    waveglow = waveglow_exporter.build_waveglow(tmp_path / "w.pt")
    assert waveglow.n_flows == train_tts.SMALL_WAVEGLOW["n_flows"]
    info = waveglow_exporter.export_waveglow(tmp_path / "w.pt", tmp_path / "export")
    assert not info["random_weights"]


def test_round_trip_scores_what_the_asr_hears_in_the_synthesized_speech(tacotron2_checkpoint, waveglow_export,
                                                                        quartznet_export, tmp_path):
    import jiwer
    import soundfile

    from triton_speech.corpus.manifest import read_manifest

    manifest = train_tts.HELDOUT_MANIFEST
    result = train_tts.round_trip(tacotron2_checkpoint, waveglow_export[0].parent / "waveglow.pt", quartznet_export,
                                  manifest, limit=2, output=tmp_path)
    assert result["vocoder"] == str(waveglow_export[0].parent / "waveglow.pt")
    texts = [item["text"] for item in read_manifest(manifest)][:2]
    assert result["sentences"] == 2 and [e["text"] for e in result["examples"]] == texts
    assert result["cer"] == pytest.approx(jiwer.cer(texts, [e["heard"] for e in result["examples"]]), abs=1e-4)
    assert soundfile.info(str(tmp_path / "round_trip_0.wav")).samplerate == SAMPLE_RATE


def test_tuning_sentences_are_in_no_tts_corpus_and_not_in_the_test_set():
    from triton_speech.corpus.manifest import read_manifest
    from triton_speech.corpus.templates import sentences
    from triton_speech.training.train_tts import HELDOUT_MANIFEST, heldout_template_sentences

    tuning = heldout_template_sentences(30, corpus_count=500)
    test_set = {item["text"] for item in read_manifest(HELDOUT_MANIFEST)}
    corpus = set(sentences(500, 0, exclude=test_set))
    assert len(set(tuning)) == 30 and not set(tuning) & (corpus | test_set)
    assert set(sentences(200, 0, exclude=test_set)) <= corpus  # a smaller corpus of the seed is a prefix of it
