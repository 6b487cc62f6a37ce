"""RivaSpeechSynthesis on the TTS models: ``Synthesize`` (-> ``tts``, the whole audio in one response),
``SynthesizeOnline`` (-> ``tts_streaming``, each chunk sent on as it comes) and ``GetRivaSynthesisConfig``.

``SynthesizeOnline`` is server-streaming in the protos of riva.client up to 2.16 (one request) and bidirectional in
newer ones (a stream of requests, e.g. one per line of text): the same method path, and on the wire a stream of
request messages either way. It is registered here as a bidirectional handler, which reads one request as it reads
many: each request's text is synthesized in turn, in the encoding and rate that request asks for.
"""

from __future__ import annotations

import asyncio
from contextlib import aclosing

import grpc
import riva.client.proto.riva_tts_pb2 as rtts
from google.protobuf.unknown_fields import UnknownFieldSet
from riva.client.proto.riva_tts_pb2_grpc import RivaSpeechSynthesisServicer

from triton_speech.client.tts import OUTPUTS, STREAM_OUTPUTS, TTSClient
from triton_speech.defaults import TTS_SAMPLE_RATE
from triton_speech.riva import audio
from triton_speech.riva.calls import Service, check_language, invalid, request_id, rpc
from triton_speech.riva.triton import stream_request

# Fields of newer clients' SynthesizeSpeechRequest (unknown to these protos) that change what is said: refused
# rather than ignored. (Their other new fields are left unread.)
REFUSED_FIELDS = {7: "custom pronunciations (custom_dictionary) are not supported by this server",
                  9: "word time offsets of synthesized speech are not supported by this server"}


class SynthesisServicer(Service, RivaSpeechSynthesisServicer):
    def check(self, request: rtts.SynthesizeSpeechRequest, streaming: bool) -> tuple[int, int]:
        """The request's (encoding, rate), once its text, language, voice and options are ones served."""
        settings = self.settings
        if len(request.text) > settings.max_text_chars:
            raise invalid(f"the text is {len(request.text)} characters long; this server reads at most "
                          f"{settings.max_text_chars} per request")
        check_language(request.language_code, settings.language_code, "speaks")
        voice = request.voice_name.lower()
        if voice not in ("", settings.voice_name.lower(), settings.full_voice_name.lower()):
            raise invalid(f"voice {request.voice_name!r} is not served: this server speaks {settings.full_voice_name} "
                          "only (or leave voice_name empty)")
        if request.zero_shot_data.audio_prompt:
            raise invalid("zero-shot voices (an audio prompt) are not supported by this server")
        for field in UnknownFieldSet(request):
            if field.field_number in REFUSED_FIELDS:
                raise invalid(REFUSED_FIELDS[field.field_number])
        return audio.output_format(request.encoding, request.sample_rate_hz, TTS_SAMPLE_RATE, streaming)

    @rpc
    async def Synthesize(self, request: rtts.SynthesizeSpeechRequest, context) -> rtts.SynthesizeSpeechResponse:
        encoding, rate = self.check(request, streaming=False)
        answer = await self.triton.infer(self.settings.tts_model, TTSClient.tensors(request.text), OUTPUTS)
        synthesis = TTSClient.synthesis(answer)
        data = await asyncio.to_thread(lambda: audio.encode_file(
            audio.resample(synthesis.audio, synthesis.sample_rate, rate), rate, encoding))
        return rtts.SynthesizeSpeechResponse(audio=data, meta=rtts.SynthesizeSpeechResponseMetadata(text=request.text),
                                             id=request_id(request))

    @rpc
    async def SynthesizeOnline(self, request_iterator, context):
        async for request in request_iterator:
            encoding, rate = self.check(request, streaming=True)
            encoder = audio.StreamEncoder(TTS_SAMPLE_RATE, rate, encoding)
            async with aclosing(self.triton.stream(_one(stream_request(
                    self.settings.tts_streaming_model, TTSClient.tensors(request.text), STREAM_OUTPUTS)))) as chunks:
                async for chunk in chunks:
                    final = bool(chunk.as_numpy("FINAL").reshape(-1)[0])
                    data = encoder.encode(chunk.as_numpy("AUDIO"), last=final)
                    if data:
                        yield rtts.SynthesizeSpeechResponse(audio=data, id=request_id(request))
                    if final:
                        break

    @rpc
    async def GetRivaSynthesisConfig(self, request, context) -> rtts.RivaSynthesisConfigResponse:
        settings = self.settings
        models = (settings.tts_model, settings.tts_streaming_model)
        if request.model_name and request.model_name not in models:
            raise invalid(f"model {request.model_name!r} is not a speech synthesis model of this server "
                          f"({', '.join(models)})")
        configs = []
        for model in models:
            if request.model_name in ("", model) and await self.triton.ready(model):
                configs.append(rtts.RivaSynthesisConfigResponse.Config(model_name=model, parameters={
                    "language_code": settings.language_code, "voice_name": settings.voice_name,
                    "subvoices": f"{settings.subvoice}:0", "sample_rate": str(TTS_SAMPLE_RATE),
                    "type": "online" if model == settings.tts_streaming_model else "offline"}))
                if not request.model_name:
                    break  # one voice: listed once (both models speak it)
        return rtts.RivaSynthesisConfigResponse(model_config=configs)


async def _one(request: dict):
    yield request


def add_to_server(servicer: SynthesisServicer, server) -> None:
    """The generated registration, with SynthesizeOnline taking a stream of requests (see the module's doc)."""
    request, response = rtts.SynthesizeSpeechRequest, rtts.SynthesizeSpeechResponse
    handlers = {
        "Synthesize": grpc.unary_unary_rpc_method_handler(
            servicer.Synthesize, request_deserializer=request.FromString,
            response_serializer=response.SerializeToString),
        "SynthesizeOnline": grpc.stream_stream_rpc_method_handler(
            servicer.SynthesizeOnline, request_deserializer=request.FromString,
            response_serializer=response.SerializeToString),
        "GetRivaSynthesisConfig": grpc.unary_unary_rpc_method_handler(
            servicer.GetRivaSynthesisConfig, request_deserializer=rtts.RivaSynthesisConfigRequest.FromString,
            response_serializer=rtts.RivaSynthesisConfigResponse.SerializeToString),
    }
    service = rtts.DESCRIPTOR.services_by_name["RivaSpeechSynthesis"].full_name
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))
