"""The web app in a real headless Chromium (Debian's, driven by Playwright): opened at the address with its API key
after #key= (as make app prints it), record from a fake microphone that plays a WAV of a known sentence and see its
transcript; the same live: words while it plays, the upload's transcript at Stop; type text, press Speak and get
playable audio; play and delete from the history; without a key, the page asks for one. A phone-sized screenshot
is saved in the test's tmp dir (and, with UPDATE_DOCS_SCREENSHOTS=1, as docs/web_app.png)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import jiwer
import pytest
import soundfile

from tests.support.paths import REPOSITORY_ROOT
from tests.support.speech import spoken_wav, words_of
from triton_speech.corpus.templates import DEMO_ASR_TEXT

pytestmark = [pytest.mark.server, pytest.mark.browser]
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/lib/chromium/chromium"))
MAX_WER = 0.15  # as the API tests: a word or two of margin over what the default models hear
SPOKEN = "please turn off the lights when you leave"
LEAD_S, TAIL_S = 1.0, 3.0  # silence around the sentence, so the recording starts and stops in silence


@pytest.fixture(scope="module")
def microphone(tmp_path_factory) -> tuple[Path, float]:
    """A 48 kHz 16-bit WAV for Chromium's fake microphone: silence, the demo sentence, silence. Returns the file
    and the seconds to record."""
    folder = tmp_path_factory.mktemp("microphone")
    spoken_wav(DEMO_ASR_TEXT, folder / "speech.wav")
    path = folder / "microphone.wav"
    subprocess.run(["sox", str(folder / "speech.wav"), "-r", "48000", "-b", "16", str(path), "pad", str(LEAD_S),
                    str(TAIL_S)], check=True)
    return path, soundfile.info(path).duration - TAIL_S + 1.0


@pytest.fixture(scope="module")
def browser(microphone):
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.skip(f"no chromium at {CHROMIUM}: make setup installs it (apt-get install chromium)")
    args = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={microphone[0]}%noloop"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium's sandbox refuses to run as root
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        yield launched
        launched.close()


def wait_until(page, selector: str, predicate: str, timeout_s: float) -> None:
    """Poll ``predicate`` on the element from here: the page's Content-Security-Policy (no eval) stops Playwright's
    in-page polling of wait_for_function, and the test keeps that policy on."""
    deadline = time.monotonic() + timeout_s
    while not page.eval_on_selector(selector, predicate):
        assert time.monotonic() < deadline, f"{selector}: {predicate} not true after {timeout_s} s"
        time.sleep(0.2)


@pytest.mark.parametrize("gateway", ["sqlite"], indirect=True)
def test_record_transcribe_speak_and_delete_in_the_browser(gateway, browser, microphone, tmp_path):
    # A phone's screen: the page must work there (the seed's iOS app, for every phone).
    context = browser.new_context(viewport={"width": 412, "height": 915}, device_scale_factor=1, is_mobile=True,
                                  has_touch=True)
    page = context.new_page()
    problems = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(f"{gateway.url}/#key={gateway.key}")
    # the key is kept by the page and leaves the address bar
    assert page.evaluate("location.hash") == "" and page.evaluate("location.href") == f"{gateway.url}/"
    assert page.evaluate("localStorage.getItem('triton-speech-key')") == gateway.key

    # Record from the fake microphone, stop after the sentence: the transcript shows on the page.
    before = {row["id"] for row in gateway.rows("transcriptions")}
    page.click("#record")
    page.wait_for_selector("#record[aria-pressed='true']")
    page.wait_for_timeout(microphone[1] * 1000)
    page.click("#record")
    page.wait_for_selector("#transcript:not(:empty)", timeout=60_000)
    transcript = page.text_content("#transcript")
    assert jiwer.wer(DEMO_ASR_TEXT, " ".join(words_of(transcript))) <= MAX_WER, transcript
    (new_row,) = [row for row in gateway.rows("transcriptions") if row["id"] not in before]
    assert (new_row["name"], new_row["media_type"], new_row["text"]) == ("recording.webm", "audio/webm", transcript)
    assert abs(new_row["duration_s"] - microphone[1]) < 1.0  # what was recorded, give or take the start-up

    # Type a text and press Speak: the audio element gets the stored WAV and can play it.
    page.fill("#speak-text", SPOKEN)
    page.click("#speak")
    wait_until(page, "#speech-audio", "a => a.error === null && a.readyState >= 2 && a.duration > 0", 120)
    source = page.eval_on_selector("#speech-audio", "a => a.currentSrc")
    browser_seconds = page.eval_on_selector("#speech-audio", "a => a.duration")
    assert source.startswith("blob:")  # fetched with the key: an audio element cannot send one
    newest = max(row["id"] for row in gateway.rows("speech"))
    wav = httpx.get(f"{gateway.url}/api/speech/{newest}/audio", headers=gateway.headers).content
    info = soundfile.info(io.BytesIO(wav))  # an independent decoder's view of the same file
    assert abs(browser_seconds - info.frames / info.samplerate) < 0.01
    assert page.text_content("#tts-status").startswith(f"{info.frames / info.samplerate:.1f} s of speech")

    # The history lists both, newest first; Delete removes the row and its file.
    page.wait_for_selector(f"#transcriptions-list li[data-id='{new_row['id']}']")
    page.wait_for_selector("#speech-list li")
    assert SPOKEN in page.text_content("#speech-list li:first-child")
    page.click("#speech-list li:first-child button.listen")  # fetched with the key, then played
    page.wait_for_selector("#speech-list li:first-child audio", state="attached", timeout=60_000)
    wait_until(page, "#speech-list li:first-child audio", "a => a.readyState >= 2 && a.duration > 0", 60)
    assert abs(page.eval_on_selector("#speech-list li:first-child audio", "a => a.duration") - browser_seconds) < 0.01
    screenshot = tmp_path / "web_app.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 20_000
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1":
        shutil.copy(screenshot, REPOSITORY_ROOT / "docs" / "web_app.png")
    page.click(f"#transcriptions-list li[data-id='{new_row['id']}'] button.delete")
    page.wait_for_selector(f"#transcriptions-list li[data-id='{new_row['id']}']", state="detached")
    assert new_row["id"] not in [row["id"] for row in gateway.rows("transcriptions")]
    assert new_row["audio_file"] not in gateway.files("transcriptions")
    assert problems == []
    context.close()


@pytest.mark.parametrize("gateway", ["sqlite"], indirect=True)
def test_live_captions_show_partials_while_recording_and_the_upload_transcript_at_stop(gateway, browser, microphone):
    path, seconds = microphone
    # the offline transcript of the same file: what an upload of it gives
    offline = httpx.post(f"{gateway.url}/api/transcriptions", headers=gateway.headers, timeout=120,
                         files={"file": ("microphone.wav", path.read_bytes(), "audio/wav")}).json()["text"]
    assert jiwer.wer(DEMO_ASR_TEXT, " ".join(words_of(offline))) <= MAX_WER, offline
    context = browser.new_context()
    page = context.new_page()
    problems = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(f"{gateway.url}/#key={gateway.key}")
    before = {row["id"] for row in gateway.rows("transcriptions")}

    # Live: the sentence's words show while the fake microphone still plays, before Stop.
    page.click("#live")
    pressed = time.monotonic()
    page.wait_for_selector("#transcript.partial:not(:empty)", timeout=seconds * 1000)
    first_partial = time.monotonic() - pressed
    sentence, first_words, partials = set(words_of(DEMO_ASR_TEXT)), None, []
    while (elapsed := time.monotonic() - pressed) < seconds:  # stop once the file has played (then it is silence)
        partial = page.text_content("#transcript")
        assert page.get_attribute("#live", "aria-pressed") == "true" and page.text_content("#live") == "Stop"
        assert partial == " ".join(words_of(partial)), partial  # the raw words heard so far
        if first_words is None and len(set(words_of(partial)) & sentence) >= 3:
            first_words = elapsed
        partials.append(partial)
        time.sleep(0.1)
    assert first_words is not None, f"no partial transcript held three of the sentence's words: {partials}"
    page.click("#live")
    stopped = time.monotonic()
    page.wait_for_selector("#live[aria-pressed='false']", timeout=120_000)
    final_after = time.monotonic() - stopped
    assert not page.get_attribute("#asr-status", "class").endswith("error"), page.text_content("#asr-status")
    transcript = page.text_content("#transcript")
    assert transcript == offline

    (row,) = [row for row in gateway.rows("transcriptions") if row["id"] not in before]
    assert (row["name"], row["media_type"], row["text"]) == ("live recording", "audio/wav", transcript)
    assert abs(row["duration_s"] - seconds) < 1.0  # what was recorded, give or take the start-up
    page.wait_for_selector(f"#transcriptions-list li[data-id='{row['id']}']")
    assert problems == []
    context.close()
    print(f"\nlive captions in Chromium: first partial on the page {first_partial:.2f} s after pressing Live, the "
          f"first with three of the sentence's words {first_words:.2f} s (its speech starts {LEAD_S:g} s into the "
          f"microphone's file); final {final_after:.2f} s after Stop")


@pytest.mark.parametrize("gateway", ["sqlite"], indirect=True)
def test_without_a_key_the_page_asks_for_one(gateway, browser):
    context = browser.new_context()
    page = context.new_page()
    refused = []
    page.on("response", lambda response: response.status == 401 and refused.append(response.url))
    page.goto(gateway.url)
    page.wait_for_selector("#key-form:not([hidden])")
    assert page.text_content("#key-status").startswith("an API key is required")
    assert refused and all("/api/" in url for url in refused)
    page.fill("#key-input", gateway.key)
    page.click("#key-form button[type=submit]")
    page.wait_for_selector("#key-form[hidden]", state="attached")
    wait_until(page, "#speech-list", "list => !list.textContent.startsWith('Could not load')", 30)
    assert page.evaluate("localStorage.getItem('triton-speech-key')") == gateway.key
    context.close()
