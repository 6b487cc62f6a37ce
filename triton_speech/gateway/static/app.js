// The web app: records or picks a file and posts it to /api/transcriptions, posts text to /api/speech and plays
// the WAV, and lists the stored results with delete. Talks only to the gateway it came from.
"use strict";

const $ = (selector) => document.querySelector(selector);
// Containers the browser may record into, best first: Chrome and Firefox do WebM/Opus, Safari MP4/AAC.
const RECORDING_TYPES = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/mp4", "audio/webm"];

async function api(path, options = {}) {
  const response = await fetch(path, options);
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error.message; } catch (_) { /* not JSON: keep the status */ }
    throw new Error(message);
  }
  return response.status === 204 ? null : response.json();
}

function say(element, text, isError = false) {
  element.textContent = text;
  element.classList.toggle("error", isError);
}

function extension(mimeType) {
  if (mimeType.includes("webm")) return "webm";
  if (mimeType.includes("ogg")) return "ogg";
  if (mimeType.includes("mp4")) return "m4a";
  return "audio";
}

// --- speech to text -------------------------------------------------------------------------------------------

let recorder = null;

async function startRecording() {
  const stream = await navigator.mediaDevices.getUserMedia({
    // The recording as the microphone hears it: the model was not trained on processed speech.
    audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false, channelCount: 1 },
  });
  const mimeType = RECORDING_TYPES.find((type) => MediaRecorder.isTypeSupported(type)) || "";
  recorder = new MediaRecorder(stream, mimeType ? { mimeType } : {});
  const chunks = [];
  const started = Date.now();
  const timer = setInterval(() => say($("#asr-status"), `Recording… ${Math.round((Date.now() - started) / 1000)} s`), 500);
  recorder.ondataavailable = (event) => { if (event.data.size) chunks.push(event.data); };
  recorder.onstop = () => {
    clearInterval(timer);
    stream.getTracks().forEach((track) => track.stop());
    const type = recorder.mimeType || mimeType || "audio/webm";
    transcribe(new Blob(chunks, { type }), `recording.${extension(type)}`);
    recorder = null;
  };
  recorder.start();
  $("#record").textContent = "Stop";
  $("#record").setAttribute("aria-pressed", "true");
  say($("#asr-status"), "Recording…");
}

function stopRecording() {
  $("#record").textContent = "Record";
  $("#record").setAttribute("aria-pressed", "false");
  recorder.stop();
}

async function transcribe(blob, name) {
  const form = new FormData();
  form.append("file", blob, name);
  say($("#asr-status"), "Transcribing…");
  $("#transcript").textContent = "";
  $("#words").textContent = "";
  try {
    const result = await api("/api/transcriptions", { method: "POST", body: form });
    $("#transcript").textContent = result.text || "(nothing heard)";
    showWords(result.words);
    say($("#asr-status"), `${result.duration_s.toFixed(1)} s of audio, transcribed in ${(result.inference_time_s * 1000).toFixed(0)} ms.`);
    loadHistory();
  } catch (error) {
    say($("#asr-status"), `Could not transcribe: ${error.message}`, true);
  }
}

function showWords(words) {
  const box = $("#words");
  box.textContent = "";
  for (const word of words || []) {
    const span = document.createElement("span");
    span.textContent = word.word;
    span.title = `${word.start.toFixed(2)}–${word.end.toFixed(2)} s`;
    box.append(span);
  }
}

// --- text to speech -------------------------------------------------------------------------------------------

async function speak(event) {
  event.preventDefault();
  const text = $("#speak-text").value.trim();
  if (!text) return;
  $("#speak").disabled = true;
  say($("#tts-status"), "Synthesizing…");
  try {
    const result = await api("/api/speech", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ text }),
    });
    const player = $("#speech-audio");
    player.src = result.audio_url;
    say($("#tts-status"), `${result.duration_s.toFixed(1)} s of speech, made in ${result.inference_time_s.toFixed(1)} s.`);
    player.play().catch(() => { /* autoplay refused: the controls are there */ });
    loadHistory();
  } catch (error) {
    say($("#tts-status"), `Could not speak: ${error.message}`, true);
  } finally {
    $("#speak").disabled = false;
  }
}

// --- history --------------------------------------------------------------------------------------------------

function entry(kind, item, text) {
  const li = document.createElement("li");
  li.dataset.id = item.id;
  const line = document.createElement("p");
  line.textContent = text;
  const meta = document.createElement("p");
  meta.className = "meta";
  meta.textContent = `${new Date(item.created_at).toLocaleString()} · ${item.duration_s.toFixed(1)} s`;
  const player = document.createElement("audio");
  player.controls = true;
  player.preload = "none";
  player.src = item.audio_url;
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "delete";
  remove.textContent = "Delete";
  remove.setAttribute("aria-label", `Delete ${kind} ${item.id}: ${text}`);
  remove.addEventListener("click", async () => {
    try {
      await api(`/api/${kind}/${item.id}`, { method: "DELETE" });
      li.remove();
    } catch (error) {
      meta.textContent = `Could not delete: ${error.message}`;
    }
  });
  li.append(line, meta, player, remove);
  return li;
}

async function loadHistory() {
  for (const [kind, list, text] of [
    ["transcriptions", "#transcriptions-list", (item) => `${item.name}: ${item.text || "(nothing heard)"}`],
    ["speech", "#speech-list", (item) => item.text],
  ]) {
    try {
      const page = await api(`/api/${kind}?limit=20`);
      $(list).replaceChildren(...page.items.map((item) => entry(kind, item, text(item))));
    } catch (error) {
      $(list).textContent = `Could not load: ${error.message}`;
    }
  }
}

// --- start ----------------------------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  const record = $("#record");
  if (!navigator.mediaDevices || !window.MediaRecorder) {
    // getUserMedia exists only in secure contexts (https, or localhost).
    record.disabled = true;
    $("#record-note").hidden = false;
    $("#record-note").textContent = "Recording needs https (or localhost) and a browser with MediaRecorder; choose a file instead (phones offer to record one).";
  }
  record.addEventListener("click", () => {
    if (recorder) stopRecording();
    else startRecording().catch((error) => say($("#asr-status"), `No microphone: ${error.message}`, true));
  });
  $("#file").addEventListener("change", (event) => {
    const [file] = event.target.files;
    if (file) transcribe(file, file.name);
    event.target.value = "";
  });
  $("#speak-form").addEventListener("submit", speak);
  loadHistory();
});
