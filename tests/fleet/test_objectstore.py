"""The fleet's object store (moto's S3 server): what boto3 clients and Triton's URL form need to reach it."""

from __future__ import annotations

import boto3

from triton_speech.fleet.objectstore import ObjectStore
from triton_speech.server.repository import S3Location, built_models, upload


def test_a_repository_uploaded_is_listed_from_triton_s_url_and_the_environment_reaches_the_store(tmp_path,
                                                                                                   monkeypatch):
    for name in ("asr", "tts"):
        (tmp_path / name / "1").mkdir(parents=True)
        (tmp_path / name / "config.pbtxt").write_text(f'name: "{name}"\n')
    with ObjectStore() as store:
        store.create_bucket("models")
        url = store.repository_url("models", "repository")
        assert S3Location.parse(url) == S3Location(store.endpoint_url, "models", "repository")
        assert upload(tmp_path, url, client=store.client()) == 2
        for name, value in store.environment().items():
            monkeypatch.setenv(name, value)
        assert built_models(url) == ["asr", "tts"]
        # a client made from the environment alone (as the gateways make theirs) finds the same store
        keys = boto3.client("s3").list_objects_v2(Bucket="models")["Contents"]
        assert sorted(item["Key"] for item in keys) == ["repository/asr/1/", "repository/asr/config.pbtxt",
                                                       "repository/tts/1/", "repository/tts/config.pbtxt"]
