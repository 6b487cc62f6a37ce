"""The local fleet for real: two Triton replicas loading the repository from the object store, HAProxy in front of
them and of two gateways, one PostgreSQL and one bucket for the gateways. A replica's tritonserver SIGKILLed under
a load of asr and tts requests from four clients loses none of them (the clients retry) and every answer equals the
same request alone; its stubs end within 10 s and the fleet starts the replica again. Both gateways store into the
one database and bucket; one SIGKILLed under load leaves nothing half-stored (no row without its object, no object
without its row once a gateway's start has swept). The stop leaves nothing running.

The tests run in order on one fleet (module fixture): the last one stops it."""

from __future__ import annotations

import collections
import io
import os
import signal
import socket
import threading
import time

import httpx
import pytest
import soundfile

from tests.support.audio import snr_db
from tests.support.decoding import SEEDS, TEXTS
from tests.support.gateway import bearer, read_rows
from tests.support.markers import marks
from tests.support.ports import free_port
from tests.support.tones import tone_clip
from tests.support.waiting import wait_for
from triton_speech.client import ASRClient, TTSClient
from triton_speech.fleet import Fleet, FleetSettings
from triton_speech.fleet.balancer import server_stats
from triton_speech.server import procfs, python_stubs

pytestmark = pytest.mark.server
STUBS_GONE_WITHIN_S = 10.0
# Batched with other requests, Tacotron2's float rounding differs from alone: docs/serving.md's bound for tts
TTS_MIN_SNR_DB = 40.0
# How old an object no row names must be before a gateway's start sweeps it: short here, so the test can wait it out
GRACE_S = 3.0
CLIENTS = 4
REQUESTS_PER_CLIENT = 12


@pytest.fixture(scope="module")
@marks("postgres")  # the fleet starts its own PostgreSQL
def fleet(fleet_repository, tmp_path_factory):
    settings = FleetSettings(str(fleet_repository), replicas=2, gateways=2,
                             run_dir=tmp_path_factory.mktemp("fleet"), triton_grpc_port=free_port(),
                             triton_http_port=free_port(), app_port=free_port(), riva_port=free_port(),
                             database_url=None, media_url=None,
                             environment={"APP_MEDIA_SWEEP_GRACE_SECONDS": str(GRACE_S),
                                          "APP_RATE_LIMIT": "100000/minute", "APP_MAX_CONCURRENT_INFERENCE": "64"})
    fleet = Fleet(settings)
    started = time.monotonic()
    fleet.start()
    print(f"fleet ready in {time.monotonic() - started:.1f} s")
    supervisor = threading.Thread(target=fleet.run, name="fleet-supervisor")
    supervisor.start()
    try:
        yield fleet
    finally:
        fleet.stop()
        supervisor.join()


def all_up(fleet: Fleet) -> bool:
    return all(row["status"] == "UP" for row in server_stats(fleet.stats_socket).values())


def requests_sent(fleet: Fleet) -> collections.Counter:
    return collections.Counter({key: int(row["stot"]) for key, row in server_stats(fleet.stats_socket).items()})


def test_a_replica_killed_under_load_loses_no_request(fleet):
    clips = [tone_clip(3 + i, seed=20 + i)[0] for i in range(3)]
    work = [("asr", i) for i in range(len(clips))] + [("tts", i) for i in range(len(TEXTS))]
    asr, tts = ASRClient(fleet.triton_grpc_url), TTSClient(fleet.triton_grpc_url)
    alone = {("asr", i): asr.transcribe(clip) for i, clip in enumerate(clips)}
    alone |= {("tts", i): tts.synthesize(text, SEEDS[i]).audio for i, text in enumerate(TEXTS)}
    before = requests_sent(fleet)
    answers: list[tuple[tuple[str, int], object]] = []
    failures: list[str] = []

    def client(number: int) -> None:
        protocol = ("grpc", "http")[number % 2]
        url = fleet.triton_grpc_url if protocol == "grpc" else fleet.triton_http_url
        asr, tts = ASRClient(url, protocol), TTSClient(url, protocol)
        for index in range(REQUESTS_PER_CLIENT):
            kind, item = work[(number + index) % len(work)]
            try:
                if kind == "asr":
                    answers.append(((kind, item), asr.transcribe(clips[item])))
                else:
                    answers.append(((kind, item), tts.synthesize(TEXTS[item], SEEDS[item]).audio))
            except Exception as error:  # noqa: BLE001 - every failure is reported
                failures.append(f"{protocol} {kind}: {type(error).__name__}: {error}")

    threads = [threading.Thread(target=client, args=(number,)) for number in range(CLIENTS)]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(answers) >= CLIENTS * REQUESTS_PER_CLIENT // 3, 300, "a third of the load")
    replica = fleet.replicas[0]
    server = replica.tritonserver()
    stubs = list(python_stubs(server))
    os.kill(server, signal.SIGKILL)
    killed_at = time.monotonic()
    stubs_gone_s = wait_for(lambda: not any(procfs.alive(pid) for pid in stubs), STUBS_GONE_WITHIN_S,
                            "the killed replica's stubs gone")
    for thread in threads:
        thread.join()
    wait_for(lambda: replica.starts == 2 and replica.running() and all_up(fleet), 300,
             "the replica started again and balanced")
    back_s = time.monotonic() - killed_at
    print(f"replica SIGKILLed under load: {len(failures)} of {CLIENTS * REQUESTS_PER_CLIENT} requests failed; "
          f"{len(stubs)} stubs gone in {stubs_gone_s:.2f} s; replica back in the balancer {back_s:.1f} s after")
    assert failures == []
    assert len(answers) == CLIENTS * REQUESTS_PER_CLIENT
    for key, answer in answers:
        if key[0] == "asr":
            assert answer == alone[key]
        else:
            assert answer.shape == alone[key].shape and snr_db(alone[key], answer) >= TTS_MIN_SNR_DB
    sent = requests_sent(fleet) - before
    assert all(sent[(backend, f"triton-{i}")] > 0 for backend in ("triton_grpc", "triton_http") for i in (0, 1)), sent


@pytest.fixture(scope="module")
def api_key(fleet) -> str:
    from triton_speech.gateway.database import Database
    from triton_speech.gateway.keys import KeyStore

    database = Database(fleet.database_url)
    try:
        return KeyStore(database).create("fleet-tests")[1]
    finally:
        database.close()


def objects(fleet: Fleet, kind: str) -> set[str]:
    """The names of the objects of ``kind`` in the media bucket (s3://media/gateway), read with the store's client."""
    prefix = f"gateway/{kind}/"
    listing = fleet.object_store.client().list_objects_v2(Bucket="media", Prefix=prefix)
    return {item["Key"][len(prefix):] for item in listing.get("Contents", [])}


def rows(fleet: Fleet, kind: str) -> dict[int, str]:
    """id -> audio file of the rows of ``kind``, read from PostgreSQL with its own driver."""
    return {row["id"]: row["audio_file"] for row in read_rows(fleet.database_url, kind)}


def recording(seed: int) -> bytes:
    audio, _ = tone_clip(3, seed=seed)
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, 16000, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def test_both_gateways_store_into_one_database_and_bucket(fleet, api_key):
    made = []
    for number, gateway in enumerate(fleet.gateways):
        answer = httpx.post(f"http://127.0.0.1:{gateway.port}/api/speech", headers=bearer(api_key),
                            json={"text": TEXTS[number], "seed": number}, timeout=120)
        assert answer.status_code == 201, answer.text
        made.append(answer.json()["id"])
    stored = rows(fleet, "speech")
    assert set(made) <= set(stored) and {stored[i] for i in made} <= objects(fleet, "speech")
    for number, row_id in enumerate(made):  # each row and its audio through the other gateway
        other = fleet.gateways[1 - number]
        audio = httpx.get(f"http://127.0.0.1:{other.port}/api/speech/{row_id}/audio", headers=bearer(api_key))
        assert audio.status_code == 200 and audio.content[:4] == b"RIFF"
        key = f"gateway/speech/{stored[row_id]}"
        assert audio.content == fleet.object_store.client().get_object(Bucket="media", Key=key)["Body"].read()


def test_the_riva_api_answers_through_the_balancer_from_each_gateway(fleet, api_key):
    """A Riva client of the fleet's RIVA_PORT, with an API key: the balancer sends its calls to both gateways, and
    each answers what the balanced asr ensemble answers."""
    from riva.client import ASRService, Auth, RecognitionConfig
    from riva.client.proto import riva_asr_pb2 as rasr

    data = recording(7)
    audio, _ = soundfile.read(io.BytesIO(data), dtype="float32")
    expected = ASRClient(fleet.triton_grpc_url).recognize(audio).raw
    before = server_stats(fleet.stats_socket)
    for _ in range(4):  # a new channel each: round robin reaches both gateways
        asr = ASRService(Auth(uri=f"127.0.0.1:{fleet.settings.riva_port}"))
        # the key per call: riva.client sends Auth's metadata over TLS only (docs/riva-api.md)
        response = asr.stub.Recognize(rasr.RecognizeRequest(config=RecognitionConfig(), audio=data),
                                      metadata=[("authorization", f"Bearer {api_key}")])
        assert response.results[0].alternatives[0].transcript == expected
    after = server_stats(fleet.stats_socket)
    sent = [int(after["riva", g.name]["stot"]) - int(before["riva", g.name]["stot"]) for g in fleet.gateways]
    assert all(count > 0 for count in sent), sent


def test_a_gateway_killed_under_load_leaves_nothing_half_stored(fleet, api_key):
    answers: list[tuple[float, int | str]] = []  # (when sent, status or error)
    recordings = [recording(seed) for seed in range(3)]

    def client(number: int) -> None:
        with httpx.Client(base_url=fleet.gateway_url, headers=bearer(api_key), timeout=120) as http:
            for index in range(REQUESTS_PER_CLIENT):
                sent = time.monotonic()
                try:
                    if (number + index) % 2:
                        answer = http.post("/api/speech", json={"text": TEXTS[index % 3], "seed": index})
                    else:
                        files = {"file": ("clip.wav", recordings[index % 3], "audio/wav")}
                        answer = http.post("/api/transcriptions", files=files)
                    answers.append((sent, answer.status_code))
                except httpx.HTTPError as error:
                    answers.append((sent, f"{type(error).__name__}: {error}"))

    threads = [threading.Thread(target=client, args=(number,)) for number in range(CLIENTS)]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(answers) >= CLIENTS * REQUESTS_PER_CLIENT // 3, 300, "a third of the load")
    victim = fleet.gateways[0]
    starts = victim.starts
    victim.process.kill()
    killed_at = time.monotonic()
    for thread in threads:
        thread.join()
    statuses = collections.Counter(status for _, status in answers)
    print(f"gateway SIGKILLed under load: {dict(statuses)}")
    failed = [(when - killed_at, status) for when, status in answers if status != 201]
    # at most the requests in flight on the killed gateway fail: the balancer answers 502, or closes the connection
    # of a request it was still forwarding; the other gateway serves the rest
    dropped = ("RemoteProtocolError", "ReadError")
    assert len(failed) <= CLIENTS and all(status == 502 or str(status).startswith(dropped) for _, status in failed), \
        failed
    assert sum(1 for when, status in answers if status == 201 and when > killed_at) >= CLIENTS
    for kind in ("transcriptions", "speech"):  # no row without its object, at any time
        assert set(rows(fleet, kind).values()) <= objects(fleet, kind), kind
    # an object whose row was never written (the killed gateway's write in flight) is swept by a gateway's start,
    # once older than the grace period: the fleet started the killed one again; stop it once more after the grace
    wait_for(lambda: victim.starts == starts + 1 and victim.ready(), 300, "the killed gateway started again")
    time.sleep(max(0.0, killed_at + GRACE_S - time.monotonic()))
    victim.process.terminate()
    wait_for(lambda: victim.starts == starts + 2 and victim.ready() and all_up(fleet), 300, "a gateway's start")
    for kind in ("transcriptions", "speech"):
        assert set(rows(fleet, kind).values()) == objects(fleet, kind), kind


def test_the_stop_leaves_nothing_running(fleet):
    """Every process of the fleet (the children, what they started, PostgreSQL) ends, and no part had to be killed
    for outliving its parent; the balanced ports are free again."""
    for child in fleet.children:
        child.track()
    processes = {pid for child in fleet.children for pid in [child.pid, *child.leftovers()]}
    postmaster = fleet.postgres.pid()
    assert len(processes) > 2 * 8 and postmaster  # the replicas' stubs among them
    started = time.monotonic()
    left = fleet.stop()
    print(f"fleet stopped in {time.monotonic() - started:.1f} s")
    assert left == []
    assert [pid for pid in [*processes, postmaster] if procfs.alive(pid)] == []
    for port in (fleet.settings.triton_grpc_port, fleet.settings.triton_http_port, fleet.settings.app_port):
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))  # free: nothing listens
