"""Who may reach the API: API keys (401 without one or with a bad one), anonymous access only when the settings say
so, the allowed hosts (DNS rebinding) and origins (a cross-origin POST without preflight), and the limits per key
(429 with Retry-After). In-process before a fake inference service, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.gateway import bearer, error_of, running_api, wav

PROTECTED = [("GET", "/api/transcriptions"), ("GET", "/api/speech/1"), ("DELETE", "/api/speech/1"),
             ("GET", "/api/speech/1/audio"), ("POST", "/api/speech"), ("POST", "/v1/audio/speech"),
             ("POST", "/v1/audio/transcriptions"), ("GET", "/api/no-such-route")]
PUBLIC = ["/", "/static/app.js", "/docs", "/openapi.json", "/health", "/health/live"]


@pytest.mark.parametrize("authorization, message", [
    (None, "an API key is required: send it as 'Authorization: Bearer KEY'"),
    ("Bearer tsk_" + "A" * 43, "the API key is not valid (unknown or revoked)"),
    ("Bearer not-a-key", "the API key is not valid (unknown or revoked)"),
    ("Basic dXNlcjpwYXNz", "the Authorization header must be 'Bearer KEY'"),
    ("garbage", "the Authorization header must be 'Bearer KEY'"),
])
def test_without_a_valid_key_every_api_route_is_401(api, authorization, message):
    if authorization is None:
        del api.client.headers["Authorization"]
    else:
        api.client.headers["Authorization"] = authorization
    for method, path in PROTECTED:
        answer = api.client.request(method, path, json={"text": "hello", "input": "hello"})
        assert error_of(answer, 401).startswith(message), (method, path)
        assert answer.headers["www-authenticate"] == "Bearer"
    assert api.inference.asked == [] and api.rows("speech") == []


def test_the_page_its_files_docs_and_health_need_no_key(api):
    del api.client.headers["Authorization"]
    for path in PUBLIC:
        assert api.client.get(path).status_code == 200, path


def test_a_revoked_key_is_refused_and_its_rows_stay_unreachable(api):
    from triton_speech.gateway.keys import KeyStore

    made = api.client.post("/api/speech", json={"text": "before"}).json()
    KeyStore(api.app.state.services.database).revoke("alice")
    assert error_of(api.client.get(f"/api/speech/{made['id']}"), 401).startswith("the API key is not valid")
    bob = bearer(api.keys["bob"])
    assert api.client.get(f"/api/speech/{made['id']}", headers=bob).status_code == 404
    assert len(api.files("speech")) == 1  # revoking deletes nothing


def test_anonymous_access_only_when_the_settings_say_so(database_url, tmp_path):
    with running_api(database_url, tmp_path, anonymous=True) as api:
        alice = dict(api.client.headers)
        del api.client.headers["Authorization"]
        anonymous = api.client.post("/api/speech", json={"text": "nobody's"})
        assert anonymous.status_code == 201
        assert api.client.get("/api/speech").json()["items"] == [anonymous.json()]
        assert api.client.get("/api/speech", headers=alice).json()["total"] == 0  # keys see their own rows only
        assert [row["key_id"] for row in api.rows("speech")] == [None]
        # a key that is sent is still checked
        assert api.client.get("/api/speech", headers=bearer("tsk_" + "B" * 43)).status_code == 401


# --- hosts and origins --------------------------------------------------------------------------------------------

def test_a_host_header_not_allowed_is_400_and_the_default_hosts_are_served(api):
    """DNS rebinding: a page of evil.example whose name now points at this address sends Host: evil.example."""
    for host in ["evil.example", "evil.example:8080", "127.0.0.2", "localhost.evil.example", ""]:
        for path in ["/", "/api/speech", "/health"]:
            answer = api.client.get(path, headers={"Host": host})
            assert error_of(answer, 400) == f"this gateway does not serve the host {host!r} (APP_ALLOWED_HOSTS)"
    for host in ["localhost", "localhost:8080", "127.0.0.1:8080", "[::1]:8080"]:
        assert api.client.get("/api/speech", headers={"Host": host}).status_code == 200, host


def test_allowed_hosts_take_names_and_wildcards(database_url, tmp_path):
    with running_api(database_url, tmp_path, allowed_hosts=("speech.example.com", "*.internal")) as api:
        for host, status in [("speech.example.com", 200), ("a.b.internal:443", 200), ("internal", 400),
                             ("localhost", 400), ("example.com", 400)]:
            assert api.client.get("/health/live", headers={"Host": host}).status_code == status, host


def test_a_cross_origin_multipart_post_is_refused_and_nothing_stored(api):
    """A form on another site posting to the gateway: a 'simple' request, sent without a preflight."""
    answer = api.client.post("/api/transcriptions", files={"file": ("a.wav", wav(), "audio/wav")},
                             headers={"Origin": "http://evil.example"})
    assert error_of(answer, 403) == "requests from the origin 'http://evil.example' are not allowed " \
                                    "(APP_ALLOWED_ORIGINS)"
    assert api.inference.asked == [] and api.rows("transcriptions") == [] and api.files("transcriptions") == []


def test_the_pages_own_requests_are_same_origin(api):
    """What the browser sends for the page's fetch() calls: Origin (POST, DELETE) and Sec-Fetch-Site."""
    page = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
    created = api.upload(headers=page)
    assert created.status_code == 201, created.text
    assert api.client.get("/api/transcriptions", headers={"Sec-Fetch-Site": "same-origin"}).json()["total"] == 1
    assert api.client.delete(created.json()["audio_url"].removesuffix("/audio"), headers=page).status_code == 204


def test_requests_from_other_sites_without_an_origin_are_refused(api):
    """An <audio> or <img> of another site naming the API: no Origin, but Sec-Fetch-Site says where it comes from."""
    made = api.client.post("/api/speech", json={"text": "hello"}).json()
    for site in ("cross-site", "same-site"):
        answer = api.client.get(made["audio_url"], headers={"Sec-Fetch-Site": site})
        assert error_of(answer, 403) == "requests from other sites are not allowed (APP_ALLOWED_ORIGINS)"
    assert api.client.get("/", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200  # a link to the page


def test_an_allowed_origin_gets_cors_answers(database_url, tmp_path):
    origin = "https://app.example.com"
    with running_api(database_url, tmp_path, allowed_origins=(origin,)) as api:
        preflight = api.client.options("/api/speech", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type"})
        assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == origin
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        created = api.client.post("/api/speech", json={"text": "hello"}, headers={"Origin": origin})
        assert created.status_code == 201 and created.headers["access-control-allow-origin"] == origin
        assert "x-request-id" in created.headers["access-control-expose-headers"].lower()
        other = api.client.options("/api/speech", headers={"Origin": "https://other.example.com",
                                                           "Access-Control-Request-Method": "POST"})
        assert other.status_code == 403 and "access-control-allow-origin" not in other.headers


# --- limits per key -----------------------------------------------------------------------------------------------

def test_the_rate_limit_is_per_key_with_retry_after(database_url, tmp_path):
    with running_api(database_url, tmp_path, rate_limit="3/minute") as api:
        assert [api.client.get("/api/speech").status_code for _ in range(3)] == [200] * 3
        refused = api.client.get("/api/speech")
        assert error_of(refused, 429) == "too many requests for this key (at most 3 per 1 minute): try again in " \
                                         f"{refused.headers['retry-after']} s"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert api.client.get("/api/speech", headers=bearer(api.keys["bob"])).status_code == 200  # bob's own count


def test_concurrent_inference_is_capped_per_key_with_retry_after(database_url, tmp_path):
    with running_api(database_url, tmp_path, max_concurrent_inference=2) as api:
        api.inference.hold.set()  # requests wait in the fake inference service
        bob = bearer(api.keys["bob"])
        with ThreadPoolExecutor(3) as pool:
            held = [pool.submit(api.client.post, "/api/speech", json={"text": f"held {i}"}) for i in range(2)]
            deadline = time.monotonic() + 30
            while len(api.inference.asked) < 2:
                assert time.monotonic() < deadline, "the first requests never reached inference"
                time.sleep(0.01)
            refused = api.client.post("/v1/audio/speech", json={"input": "one too many"})
            assert "requests in progress, the most it may have" in error_of(refused, 429)
            assert refused.headers["retry-after"] == "1"
            bobs = pool.submit(api.client.post, "/api/speech", json={"text": "bob's"}, headers=bob)
            while len(api.inference.asked) < 3:
                assert time.monotonic() < deadline, "another key's request was held back"
                time.sleep(0.01)
            api.inference.hold.clear()
            assert [future.result().status_code for future in [*held, bobs]] == [201, 201, 201]
        assert api.client.post("/api/speech", json={"text": "after"}).status_code == 201  # the slots are free again
