"""The ASR client's streams against a real server that goes away mid-stream: a clear error naming that, never a
transcript cut short in silence."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from tests.support.ports import free_ports
from tests.support.tones import tone_clip
from triton_speech.client import ASRClient, InferenceError, ServerUnavailable, StreamLost
from triton_speech.client.asr import chunked
from triton_speech.server import TritonServer

pytestmark = pytest.mark.server


def test_a_stream_whose_server_dies_ends_in_stream_lost(tone_repository, tmp_path):
    audio, _ = tone_clip(12, seed=3)
    server = TritonServer(tone_repository, ports=free_ports(), log_path=tmp_path / "tritonserver.log")
    with server:
        answers = []
        with pytest.raises(StreamLost, match=rf"the stream to asr_streaming at {server.grpc_url} was cut after 2 "
                                             r"answer\(s\) \(StatusCode.UNAVAILABLE: .*\): what arrived is incomplete"):
            for answer in ASRClient(server.grpc_url).stream(chunked(audio, 320), realtime=True):
                answers.append(answer)
                if len(answers) == 2:
                    os.kill(server.process.pid, signal.SIGKILL)
        assert len(answers) == 2 and not any(answer.final for answer in answers)


def test_a_chunk_the_server_refuses_is_not_a_lost_stream(tone_triton):
    """Bad input in a stream keeps its own error (the stream's state is not lost, the request was wrong)."""
    audio, _ = tone_clip(3, seed=4)
    chunks = chunked(audio, 320)
    chunks[1] = np.full_like(chunks[1], np.nan)
    with pytest.raises(InferenceError, match="NaN|finite") as raised:
        list(ASRClient(tone_triton.grpc_url).stream(chunks))
    assert not isinstance(raised.value, (StreamLost, ServerUnavailable))
