"""RivaLanguageUnderstanding.PunctuateText on the ``punctuator`` model: each text of the request punctuated and
capitalized, in order. The other methods (classification, entities, intents, question answering) have no model
here and answer UNIMPLEMENTED."""

from __future__ import annotations

import asyncio

import riva.client.proto.riva_nlp_pb2 as rnlp
from riva.client.proto.riva_nlp_pb2_grpc import RivaLanguageUnderstandingServicer

from triton_speech.riva.calls import Service, check_language, invalid, request_id, rpc


class LanguageServicer(Service, RivaLanguageUnderstandingServicer):
    @rpc
    async def PunctuateText(self, request: rnlp.TextTransformRequest, context) -> rnlp.TextTransformResponse:
        settings = self.settings
        if len(request.text) > settings.max_texts:
            raise invalid(f"the request holds {len(request.text)} texts; this server punctuates at most "
                          f"{settings.max_texts} per request")
        characters = sum(len(text) for text in request.text)
        if characters > settings.max_text_chars:
            raise invalid(f"the texts are {characters} characters long; this server reads at most "
                          f"{settings.max_text_chars} per request")
        check_language(request.model.language_code, settings.language_code, "punctuates")
        if request.model.model_name not in ("", settings.punctuator_model):
            raise invalid(f"model {request.model.model_name!r} is not served: use {settings.punctuator_model!r} "
                          "(or leave model_name empty)")
        # One Triton request per text: the dynamic batcher batches them (a request may hold more texts than a batch)
        texts = await asyncio.gather(*(self.triton.punctuate(settings.punctuator_model, text)
                                       for text in request.text))
        return rnlp.TextTransformResponse(text=texts, id=request_id(request))
