"""Where the model repository lives: a local folder or an S3 bucket (any S3 API: AWS, MinIO, ...), and which of its
models are built.

The launcher loads exactly the built models, a folder's or a bucket's alike: the directories with a config.pbtxt
(model_repository/ holds every model.py, built or not). For a bucket it lists them itself, with the S3 client, before
Triton starts: Triton's own repository index would list the unbuilt directories too, and with every model loaded
(model control "none") one unbuilt directory would stop the server. A bucket that is missing or refuses the
credentials is so reported before any server starts.

URLs are Triton's: ``s3://bucket/path`` (AWS, region from AWS_DEFAULT_REGION), ``s3://host:port/bucket/path`` (an
S3 API at http://host:port), ``s3://http://host:port/bucket/path`` or ``s3://https://...``; credentials from the
AWS_* environment variables, which Triton reads as well.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from triton_speech.server.errors import ServerError

CONFIG = "config.pbtxt"
_HOST_PORT = re.compile(r"^[^/]+:\d+$")


@dataclass(frozen=True)
class S3Location:
    endpoint_url: str | None  # None: AWS itself
    bucket: str
    prefix: str  # the repository's folder in the bucket, without slashes at either end ("" for the bucket's root)

    @classmethod
    def parse(cls, url: str) -> "S3Location":
        rest = url.removeprefix("s3://")
        endpoint = None
        for scheme in ("http://", "https://"):
            if rest.startswith(scheme):
                host, _, rest = rest[len(scheme):].partition("/")
                endpoint = scheme + host
        if endpoint is None:
            first, _, after = rest.partition("/")
            if _HOST_PORT.match(first):
                endpoint, rest = f"http://{first}", after
        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise ServerError(f"no bucket in the model repository URL {url}: s3://[host:port/]bucket/path")
        return cls(endpoint, bucket, prefix.strip("/"))

    def key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url)


def is_remote(location: str | Path) -> bool:
    return str(location).startswith("s3://")


def built_models(location: str | Path) -> list[str]:
    """The repository's built models (directories with a config.pbtxt), sorted; a missing repository or bucket is a
    ServerError."""
    if not is_remote(location):
        folder = Path(location)
        if not folder.is_dir():
            raise ServerError(f"model repository {location} does not exist: run `make repository`")
        return sorted(d.name for d in folder.iterdir() if (d / CONFIG).is_file())
    s3 = S3Location.parse(str(location))
    start = s3.key("")
    models = set()
    try:
        pages = s3.client().get_paginator("list_objects_v2").paginate(Bucket=s3.bucket, Prefix=start)
        for page in pages:
            for item in page.get("Contents", []):
                parts = item["Key"][len(start):].split("/")
                if len(parts) == 2 and parts[1] == CONFIG:
                    models.add(parts[0])
    except s3_errors() as error:  # no such bucket, credentials refused, endpoint unreachable
        raise ServerError(f"cannot list the model repository {location}: {error}") from None
    return sorted(models)


def config_texts(location: str | Path) -> dict[str, str]:
    """The built models' config.pbtxt texts, by model name (read from the folder or the bucket)."""
    models = built_models(location)
    if not is_remote(location):
        return {name: (Path(location) / name / CONFIG).read_text() for name in models}
    s3 = S3Location.parse(str(location))
    client = s3.client()
    try:
        return {name: client.get_object(Bucket=s3.bucket, Key=s3.key(f"{name}/{CONFIG}"))["Body"].read().decode()
                for name in models}
    except s3_errors() as error:
        raise ServerError(f"cannot read the model repository {location}: {error}") from None


def upload(folder: Path, url: str, client=None) -> int:
    """Copy a built repository folder into a bucket (``s3://...``, the URL the launcher is then given); the number
    of files. Python caches are left out. ``client``: a boto3 S3 client of the URL's store (default: one with the
    AWS_* environment's credentials)."""
    s3 = S3Location.parse(url)
    files = [p for p in sorted(Path(folder).rglob("*")) if p.is_file() and "__pycache__" not in p.parts]
    if not any(p.name == CONFIG for p in files):
        raise ServerError(f"{folder} has no built model (no config.pbtxt): run `make repository` first")
    # S3 has no directories, only keys: an empty one (an ensemble's version directory) becomes an empty object named
    # after it with a trailing slash, which makes Triton see the version.
    empty = [p for p in sorted(Path(folder).rglob("*")) if p.is_dir() and not any(p.iterdir())]
    client = client or s3.client()
    try:
        for path in tqdm(files, desc=f"uploading to {url}", unit="file"):
            client.upload_file(str(path), s3.bucket, s3.key(path.relative_to(folder).as_posix()))
        for path in empty:
            client.put_object(Bucket=s3.bucket, Key=s3.key(path.relative_to(folder).as_posix()) + "/", Body=b"")
    except s3_errors() as error:
        raise ServerError(f"cannot upload to {url}: {error}") from None
    return len(files)


def s3_errors() -> tuple[type[Exception], ...]:
    import boto3.exceptions
    import botocore.exceptions

    return botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, boto3.exceptions.Boto3Error
