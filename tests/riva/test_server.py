"""The endpoint's server: API keys (UNAUTHENTICATED), a Triton that is away (UNAVAILABLE), a taken port, the
message size it reads, and stopping."""

from __future__ import annotations

import socket

import grpc
import pytest
from riva.client.proto import riva_asr_pb2 as rasr
from riva.client.proto import riva_asr_pb2_grpc, riva_nlp_pb2_grpc, riva_tts_pb2_grpc
from riva.client.proto import riva_nlp_pb2 as rnlp
from riva.client.proto import riva_tts_pb2 as rtts

from tests.support.ports import free_port
from triton_speech.riva.auth import bearer
from triton_speech.riva.server import RivaServer, RivaStartError
from triton_speech.riva.settings import RivaSettings

KEYS = {"k-alice": "alice"}  # the fake key store: key -> owner


def settings(triton_url: str, **changes) -> RivaSettings:
    return RivaSettings(triton_url=triton_url, host="127.0.0.1", port=free_port(), **changes)


def stubs(address: str):
    channel = grpc.insecure_channel(address)
    return (channel, riva_asr_pb2_grpc.RivaSpeechRecognitionStub(channel),
            riva_tts_pb2_grpc.RivaSpeechSynthesisStub(channel),
            riva_nlp_pb2_grpc.RivaLanguageUnderstandingStub(channel))


def status(call) -> tuple[grpc.StatusCode, str]:
    try:
        result = call()
        if hasattr(result, "__iter__") and not hasattr(result, "ListFields"):
            list(result)
    except grpc.RpcError as error:
        return error.code(), error.details()
    return grpc.StatusCode.OK, ""


def streaming_audio(metadata=None):
    def call(asr):
        config = rasr.StreamingRecognitionConfig(config=rasr.RecognitionConfig(encoding=1, sample_rate_hertz=16000))
        requests = iter([rasr.StreamingRecognizeRequest(streaming_config=config),
                         rasr.StreamingRecognizeRequest(audio_content=b"\x00\x01" * 8000)])
        return asr.StreamingRecognize(requests, metadata=metadata, timeout=120)
    return call


@pytest.mark.server
def test_with_keys_on_calls_need_a_valid_bearer_key(default_speech_server):
    checked = []

    def check_key(key: str):  # a key store's lookup (sync: run in a worker thread)
        checked.append(key)
        return KEYS.get(key)

    with RivaServer(settings(default_speech_server.grpc_url), bearer(check_key)) as server:
        channel, asr, tts, nlp = stubs(server.address)
        with channel:
            good = [("authorization", "Bearer k-alice")]
            texts = rnlp.TextTransformRequest(text=["hello how are you"])
            for metadata, code, message in [
                    (None, grpc.StatusCode.UNAUTHENTICATED, "needs an API key"),
                    ([("authorization", "Bearer nope")], grpc.StatusCode.UNAUTHENTICATED, "not valid"),
                    ([("authorization", "Basic k-alice")], grpc.StatusCode.UNAUTHENTICATED, "must be 'Bearer KEY'"),
                    (good, grpc.StatusCode.OK, "")]:
                for call in (lambda m=metadata: nlp.PunctuateText(texts, metadata=m, timeout=60),
                             lambda m=metadata: tts.GetRivaSynthesisConfig(rtts.RivaSynthesisConfigRequest(),
                                                                            metadata=m, timeout=60),
                             lambda m=metadata: tts.SynthesizeOnline(rtts.SynthesizeSpeechRequest(text="Hi."),
                                                                     metadata=m, timeout=120),
                             lambda m=metadata: streaming_audio(m)(asr)):
                    got, details = status(call)
                    assert got == code and message in details, (metadata, got, details)
    assert set(checked) == {"nope", "k-alice"}  # the key as sent, without the scheme


def test_calls_while_triton_is_away_are_unavailable():
    away = f"127.0.0.1:{free_port()}"  # nothing listens there
    with RivaServer(settings(away, triton_retries=1)) as server:
        channel, asr, tts, nlp = stubs(server.address)
        with channel:
            calls = [lambda: asr.Recognize(rasr.RecognizeRequest(
                         config=rasr.RecognitionConfig(encoding=1, sample_rate_hertz=16000), audio=b"\x00\x01" * 8000),
                         timeout=60),
                     lambda: streaming_audio()(asr),
                     lambda: tts.Synthesize(rtts.SynthesizeSpeechRequest(text="Hello."), timeout=60),
                     lambda: tts.SynthesizeOnline(rtts.SynthesizeSpeechRequest(text="Hello."), timeout=60),
                     lambda: nlp.PunctuateText(rnlp.TextTransformRequest(text=["hello"]), timeout=60),
                     lambda: asr.GetRivaSpeechRecognitionConfig(rasr.RivaSpeechRecognitionConfigRequest(), timeout=60)]
            for call in calls:
                code, details = status(call)
                assert code == grpc.StatusCode.UNAVAILABLE and f"Triton at {away}" in details, (code, details)
            # bad input is still refused as such, before Triton is asked
            code, details = status(lambda: nlp.PunctuateText(rnlp.TextTransformRequest(text=["a" * 200_000])))
            assert code == grpc.StatusCode.INVALID_ARGUMENT


def test_a_taken_port_is_a_clear_error():
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        server = RivaServer(RivaSettings(triton_url="127.0.0.1:1", host="127.0.0.1", port=port))
        with pytest.raises(RivaStartError, match=f"port {port} on 127.0.0.1 is already in use.*set RIVA_PORT"):
            server.start()


def test_messages_beyond_the_limit_are_refused_by_grpc_and_stop_ends_serving():
    with RivaServer(settings("127.0.0.1:1", max_message_bytes=1_000_000)) as server:
        channel, _, _, nlp = stubs(server.address)
        with channel:
            code, details = status(lambda: nlp.PunctuateText(rnlp.TextTransformRequest(text=["a" * 2_000_000]),
                                                             timeout=30))
            assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, details
    with socket.socket() as probe:  # stopped: the port is free again
        probe.bind(("127.0.0.1", server.settings.port))
