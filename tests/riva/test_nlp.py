"""RivaLanguageUnderstanding.PunctuateText through riva.client: the punctuator's own output, text by text."""

from __future__ import annotations

import grpc
import pytest
from riva.client import NLPService

from tests.riva.test_asr import expect_invalid
from tests.support.triton import inference_stats
from triton_speech.client import PunctuatorClient

pytestmark = pytest.mark.server
TEXTS = ["hello how are you", "michael will meet emma on friday at ten thirty in the morning", "", "is it raining"]


@pytest.fixture(scope="module")
def nlp(riva_auth):
    return NLPService(riva_auth)


def test_punctuate_text_equals_the_punctuator(nlp, riva_endpoint):
    punctuator = PunctuatorClient(riva_endpoint.triton.grpc_url)
    expected = punctuator.punctuate(TEXTS)
    assert expected[0] != TEXTS[0]  # the punctuator changes something worth comparing
    assert list(nlp.punctuate_text(TEXTS).text) == expected
    many = [f"text number {i} is here" for i in range(40)]  # more texts than one Triton batch holds
    assert list(nlp.punctuate_text(many).text) == [t for i in range(0, 40, 10) for t in punctuator.punctuate(
        many[i : i + 10])]


def test_bad_requests_are_invalid_argument_and_no_huge_text_reaches_triton(nlp, riva_endpoint):
    expect_invalid(lambda: nlp.punctuate_text(["hello"], language_code="de-DE"), "'de-DE' is not served")
    expect_invalid(lambda: nlp.punctuate_text(["hello"], model_name="riva-punctuation-en-US"), "use 'punctuator'")
    before = inference_stats(riva_endpoint.triton, "punctuator")[0]
    expect_invalid(lambda: nlp.punctuate_text(["a" * 10_000_000]), "10000000 characters", "at most")
    expect_invalid(lambda: nlp.punctuate_text(["a"] * 1000), "1000 texts")
    assert inference_stats(riva_endpoint.triton, "punctuator")[0] == before
    with pytest.raises(grpc.RpcError) as caught:  # methods without a model here
        nlp.classify_text("hello", "intent")
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert nlp.punctuate_text(["still serving"]).text[0]
