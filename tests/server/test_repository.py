"""The model repository in object storage: Triton's S3 URL forms, the built models listed from a bucket as from a
folder, and a repository uploaded with `python -m triton_speech.server.upload` served from an S3 API (moto's server)
by the launcher: asr answers as the same model does in-process."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tests.support.paths import REPOSITORY_ROOT
from tests.support.ports import free_port, free_ports
from tests.support.tones import tone_clip
from triton_speech.client import ASRClient
from triton_speech.server import ServerError, TritonServer
from triton_speech.server.repository import S3Location, built_models


@pytest.mark.parametrize("url, expected", [
    ("s3://models/speech", S3Location(None, "models", "speech")),
    ("s3://models", S3Location(None, "models", "")),
    ("s3://127.0.0.1:9000/models/speech/v2/", S3Location("http://127.0.0.1:9000", "models", "speech/v2")),
    ("s3://http://minio.local:9000/models/speech", S3Location("http://minio.local:9000", "models", "speech")),
    ("s3://https://s3.example.com/models", S3Location("https://s3.example.com", "models", "")),
])
def test_tritons_s3_url_forms(url, expected):
    assert S3Location.parse(url) == expected


def test_a_url_without_a_bucket_is_a_clear_error():
    with pytest.raises(ServerError, match="no bucket"):
        S3Location.parse("s3://127.0.0.1:9000/")


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """An S3 API on a free local port (moto's server), with credentials in the environment as Triton reads them."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    with pytest.MonkeyPatch.context() as environment:
        for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                            ("AWS_DEFAULT_REGION", "us-east-1")):
            environment.setenv(name, value)
        S3Location.parse(f"s3://127.0.0.1:{port}/models").client().create_bucket(Bucket="models")
        yield f"127.0.0.1:{port}"
    server.stop()


def test_built_models_are_listed_from_a_bucket_as_from_a_folder(s3, tmp_path):
    for name, built in (("asr", True), ("ctc_decoder", True), ("source_only", False)):
        (tmp_path / name / "1").mkdir(parents=True)
        (tmp_path / name / "1" / "model.py").write_text("")
        if built:
            (tmp_path / name / "config.pbtxt").write_text(f'name: "{name}"\n')
    url = f"s3://{s3}/models/listing"
    assert subprocess.run([sys.executable, "-m", "triton_speech.server.upload", str(tmp_path), url],
                          cwd=REPOSITORY_ROOT, timeout=120).returncode == 0
    assert built_models(url) == built_models(tmp_path) == ["asr", "ctc_decoder"]
    with pytest.raises(ServerError, match="cannot list the model repository .*NoSuchBucket"):
        built_models(f"s3://{s3}/no-such-bucket/speech")


def test_the_launcher_serves_a_repository_from_the_bucket(s3, tone_repository, tone_pipeline, tmp_path):
    url = f"s3://{s3}/models/speech"
    result = subprocess.run([sys.executable, "-m", "triton_speech.server.upload", str(tone_repository), url],
                            cwd=REPOSITORY_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    audio, _ = tone_clip(4, seed=11)
    expected = tone_pipeline.transcribe([audio])[0]
    assert expected  # the clip says something
    with TritonServer(url, ports=free_ports(), log_path=tmp_path / "tritonserver.log") as server:
        assert f"--model-repository={url}" in server.command()
        assert server.models() == built_models(tone_repository)
        assert ASRClient(server.grpc_url).transcribe(audio) == expected
        np.testing.assert_equal(ASRClient(server.http_url, "http").transcribe(audio), expected)
