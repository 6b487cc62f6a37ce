"""Live streams through the real server (asr_streaming, Triton's sequence batcher): a partial transcript after every
chunk, the final one equal to offline, concurrent streams batched but not mixed, and each misuse its error."""

from __future__ import annotations

import queue
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import soundfile
import tritonclient.grpc as grpcclient

from tests.support.speech import heldout_audio
from tests.support.tones import TONE_SETTINGS, TONE_TIME_BOUND_S, tone_clip
from tests.support.triton import inference_stats
from triton_speech.client import ASRClient, InferenceError, TritonConnection
from triton_speech.client.asr import chunked
from triton_speech.client.connection import _inputs

pytestmark = pytest.mark.server


@pytest.mark.parametrize("chunk_ms", [160, 640])
def test_the_final_transcript_equals_offline_for_every_clip(default_asr_server, chunk_ms):
    """The shipped default model on ten held-out utterances: the stream's last answer is what asr says."""
    client = ASRClient(default_asr_server.grpc_url)
    for audio in heldout_audio(10):
        answers = list(client.stream(chunked(audio, chunk_ms)))
        assert len(answers) == -(-audio.shape[0] // (chunk_ms * 16)) and answers[-1].final
        assert not any(answer.final for answer in answers[:-1])
        assert answers[-1].text == client.recognize(audio, timestamps=False).raw


@pytest.mark.parametrize("chunk_ms", [160, 640])
def test_tone_words_stream_out_at_their_times(tone_triton, chunk_ms):
    """Longer than the stream buffer (2 s) and than asr's 10 s: partials hold every word said at least one word
    before the chunk's end; the final words are offline's (asr_long's windows) at their times."""
    audio, truth = tone_clip(30, 7)
    assert audio.shape[0] > TONE_SETTINGS["max_audio_seconds"] * 16000
    answers = list(ASRClient(tone_triton.grpc_url).stream(chunked(audio, chunk_ms), timestamps=True))
    for k, answer in enumerate(answers[:-1]):
        sent_s = (k + 1) * chunk_ms / 1000
        done = [word for word, _, end in truth if end + TONE_TIME_BOUND_S < sent_s]
        assert answer.text.split()[: len(done) - 1] == done[:-1], (k, answer.text)
    final = answers[-1]
    assert final.text == " ".join(word for word, _, _ in truth)
    offline = TritonConnection(tone_triton.grpc_url).infer("asr_long", {"AUDIO": audio[None]}, ["TRANSCRIPT"])
    assert final.text == offline["TRANSCRIPT"][0, 0].decode()
    for word, (_, start, end) in zip(final.words, truth):
        assert abs(word.start_s - start) <= TONE_TIME_BOUND_S and abs(word.end_s - end) <= TONE_TIME_BOUND_S


def test_concurrent_streams_share_batches_and_do_not_mix(tone_triton):
    clips = [tone_clip(5 + k % 3, 40 + k)[0] for k in range(8)]
    client = ASRClient(tone_triton.grpc_url)
    expected = [client.recognize(audio, timestamps=False).raw for audio in clips]
    before = inference_stats(tone_triton, "asr_streaming")
    with ThreadPoolExecutor(len(clips)) as pool:
        finals = list(pool.map(lambda audio: list(ASRClient(tone_triton.grpc_url).stream(chunked(audio, 160)))[-1].text,
                               clips))
    assert finals == expected
    sent = sum(len(chunked(audio, 160)) for audio in clips)
    # Triton counts a request once its response is on its way: the last chunks' counts may lag the answers a little.
    deadline = time.monotonic() + 5
    while True:
        inferences, executions = (a - b for a, b in zip(inference_stats(tone_triton, "asr_streaming"), before))
        if inferences >= sent or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert inferences == sent and executions < inferences


class Sequence:
    """Chunks sent by hand over one gRPC stream, with the sequence id and flags chosen by the test."""

    def __init__(self, url: str):
        self.answers: queue.Queue = queue.Queue()
        self.client = grpcclient.InferenceServerClient(url)
        self.client.start_stream(callback=lambda result, error: self.answers.put((result, error)))

    def send(self, sequence_id: int, start: bool, end: bool, audio: np.ndarray):
        self.client.async_stream_infer("asr_streaming", _inputs(grpcclient, {"AUDIO": audio.reshape(1, -1)}),
                                       sequence_id=sequence_id, sequence_start=start, sequence_end=end)
        result, error = self.answers.get(timeout=60)
        return error if error is not None else result.as_numpy("TRANSCRIPT")[0, 0].decode()

    def close(self):
        self.client.stop_stream()
        self.client.close()


@pytest.fixture
def sequence(tone_triton):
    stream = Sequence(tone_triton.grpc_url)
    yield stream
    stream.close()


NOT_STARTED = "must specify the START flag on the first request of the sequence"


def test_end_without_start_is_refused(sequence):
    error = sequence.send(9001, start=False, end=True, audio=tone_clip(2, 1)[0])
    assert NOT_STARTED in error.message() and "sequence 9001" in error.message()


def test_a_chunk_for_an_ended_sequence_is_refused(sequence):
    audio = tone_clip(2, 2)[0]
    assert sequence.send(9002, True, False, audio[:8000]) is not None
    assert isinstance(sequence.send(9002, False, True, audio[8000:]), str)
    error = sequence.send(9002, False, False, audio[:1600])
    assert NOT_STARTED in error.message()


def test_an_idle_stream_is_freed(sequence):
    audio = tone_clip(2, 3)[0]
    assert isinstance(sequence.send(9003, True, False, audio[:8000]), str)
    time.sleep(TONE_SETTINGS["stream_idle_seconds"] + 1.5)
    error = sequence.send(9003, False, True, audio[8000:])
    assert NOT_STARTED in error.message()
    assert isinstance(sequence.send(9003, True, True, audio), str)  # the id can start a new stream


def test_a_bad_chunk_is_refused_by_name_and_its_stream_goes_on(sequence, tone_triton):
    audio, truth = tone_clip(4, 4)
    sequence.send(9004, True, False, audio[:8000])
    bad = audio[8000:9600].copy()
    bad[3] = np.inf
    error = sequence.send(9004, False, False, bad)
    assert "AUDIO of sequence 9004 contains 1 NaN or Inf samples" in error.message()
    # A stream's error carries no status over gRPC; the same chunk of the same sequence over HTTP shows it: 400.
    from tritonclient.http import InferenceServerClient, InferInput
    from tritonclient.utils import InferenceServerException

    http = InferenceServerClient(tone_triton.http_url)
    chunk = InferInput("AUDIO", [1, bad.shape[0]], "FP32")
    chunk.set_data_from_numpy(bad[None])
    with pytest.raises(InferenceServerException, match="AUDIO of sequence 9004 contains 1 NaN") as raised:
        http.infer("asr_streaming", [chunk], sequence_id=9004)
    http.close()
    assert raised.value.status() == "400"
    assert sequence.send(9004, False, True, audio[8000:]) == " ".join(word for word, _, _ in truth)
    assert "Traceback" not in tone_triton.log_path.read_text(errors="replace")


def test_a_plain_http_client_can_stream_with_sequence_parameters(tone_triton):
    import tritonclient.http as httpclient

    audio, truth = tone_clip(4, 6)
    client = httpclient.InferenceServerClient(tone_triton.http_url)
    pieces = chunked(audio, 320)
    try:
        for k, piece in enumerate(pieces):
            result = client.infer("asr_streaming", _inputs(httpclient, {"AUDIO": piece[None]}), sequence_id=9005,
                                  sequence_start=k == 0, sequence_end=k == len(pieces) - 1)
    finally:
        client.close()
    assert result.as_numpy("TRANSCRIPT")[0, 0].decode() == " ".join(word for word, _, _ in truth)
    with pytest.raises(InferenceError, match="must specify a non-zero or non-empty correlation ID"):
        TritonConnection(tone_triton.http_url, "http").infer("asr_streaming", {"AUDIO": audio[None]}, ["TRANSCRIPT"])


def test_cli_streams_a_file_and_prints_partials_and_the_final_text(tone_triton, tmp_path):
    audio, truth = tone_clip(6, 8)
    path = tmp_path / "live.wav"
    soundfile.write(path, audio, 16000)
    result = subprocess.run([sys.executable, "-m", "client", "asr", "--stream", str(path), "--chunk-ms", "250",
                             "--realtime", "--url", tone_triton.grpc_url], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "final: " + " ".join(word for word, _, _ in truth)
    partials = [line.removeprefix("partial: ") for line in lines[:-1]]
    assert all(line.startswith("partial: ") for line in lines[:-1]) and len(set(partials)) == len(partials) >= 3
