// The web app: live captions (the microphone streamed over a WebSocket, partial transcripts while you speak, the
// final one stored when you stop), records or picks a file and posts it to /api/transcriptions, posts text to
// /api/speech and plays the WAV, and lists the stored results with delete. Talks only to the gateway it came from, with the API key the
// address carried after #key= (make app prints it) or the one pasted into the key form, kept in this browser.
"use strict";

const $ = (selector) => document.querySelector(selector);
// Containers the browser may record into, best first: Chrome and Firefox do WebM/Opus, Safari MP4/AAC.
const RECORDING_TYPES = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/mp4", "audio/webm"];
const KEY_ITEM = "triton-speech-key";
// The recording as the microphone hears it: the model was not trained on processed speech.
const MICROPHONE = { echoCancellation: false, noiseSuppression: false, autoGainControl: false, channelCount: 1 };
const LIVE_PATH = "/api/transcriptions/live";
const LIVE_PROTOCOL = "triton-speech.live.v1";
const LIVE_FRAME_MS = 50;

// --- the API key ----------------------------------------------------------------------------------------------

function keepKeyFromAddress() {
  // The part after # never reaches a server; once kept, it leaves the address bar (and the history) too.
  const key = new URLSearchParams(location.hash.slice(1)).get("key");
  if (key) {
    localStorage.setItem(KEY_ITEM, key);
    history.replaceState(null, "", location.pathname + location.search);
  }
}

function withKey(options = {}) {
  const key = localStorage.getItem(KEY_ITEM);
  if (!key) return options;
  return { ...options, headers: { ...(options.headers || {}), Authorization: `Bearer ${key}` } };
}

function askForKey(message) {
  $("#key-form").hidden = false;
  say($("#key-status"), message, true);
}

async function fetchOrExplain(path, options = {}) {
  const response = await fetch(path, withKey(options));
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error.message; } catch (_) { /* not JSON: keep the status */ }
    if (response.status === 401) askForKey(message);
    throw new Error(message);
  }
  return response;
}

async function api(path, options = {}) {
  const response = await fetchOrExplain(path, options);
  return response.status === 204 ? null : response.json();
}

// Audio elements cannot send the key: the audio is fetched with it and played from a blob: URL.
async function audioUrl(path) {
  return URL.createObjectURL(await (await fetchOrExplain(path)).blob());
}

async function play(player, path) {
  if (player.src.startsWith("blob:")) URL.revokeObjectURL(player.src);
  player.src = await audioUrl(path);
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
  const stream = await navigator.mediaDevices.getUserMedia({ audio: MICROPHONE });
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
  pressed($("#record"), true, "Stop");
  say($("#asr-status"), "Recording…");
}

function stopRecording() {
  pressed($("#record"), false, "Record");
  recorder.stop();
}

function pressed(button, on, label) {
  button.textContent = label;
  button.setAttribute("aria-pressed", on ? "true" : "false");
  // one recording at a time
  for (const other of [$("#live"), $("#record")]) if (other !== button) other.disabled = on;
}

// --- live captions --------------------------------------------------------------------------------------------

let live = null;

async function startLive() {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: MICROPHONE });
  // The device's own rate: the gateway resamples to the model's 16 kHz.
  const context = new AudioContext();
  try {
    await context.audioWorklet.addModule("/static/live-worklet.js");
  } catch (error) {
    stream.getTracks().forEach((track) => track.stop());
    context.close();
    throw error;
  }
  const source = context.createMediaStreamSource(stream);
  const capture = new AudioWorkletNode(context, "pcm-frames", {
    numberOfInputs: 1, numberOfOutputs: 0,
    processorOptions: { frameSamples: Math.round((context.sampleRate * LIVE_FRAME_MS) / 1000) },
  });
  // A WebSocket cannot carry an Authorization header: the key travels as a subprotocol, never in the address.
  const key = localStorage.getItem(KEY_ITEM);
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(`${scheme}//${location.host}${LIVE_PATH}`,
    key ? [LIVE_PROTOCOL, `bearer.${key}`] : [LIVE_PROTOCOL]);
  socket.binaryType = "arraybuffer";
  const session = { socket, context, stream, source, sent: 0, stopping: false, done: false, stoppedAt: 0 };
  live = session;
  pressed($("#live"), true, "Stop");
  $("#transcript").textContent = "";
  $("#transcript").classList.add("partial");
  $("#words").textContent = "";
  say($("#asr-status"), "Connecting…");
  const timer = setInterval(() => {
    if (!session.stopping && session.sent) say($("#asr-status"), `Live… ${(session.sent / context.sampleRate).toFixed(0)} s`);
  }, 500);

  socket.onopen = () => {
    socket.send(JSON.stringify({ type: "start", sample_rate: context.sampleRate, format: "s16le" }));
    capture.port.onmessage = (event) => {
      if (session.stopping || socket.readyState !== WebSocket.OPEN) return;
      socket.send(event.data);
      session.sent += event.data.byteLength / 2;
    };
    source.connect(capture);
  };
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "ready") say($("#asr-status"), "Live… speak now");
    else if (message.type === "partial") $("#transcript").textContent = message.text;
    else if (message.type === "final") showFinal(session, message);
    else if (message.type === "error") {
      session.done = true;
      say($("#asr-status"), `Live captions stopped: ${message.error.message}`, true);
      if (message.error.code === 401) askForKey(message.error.message);
    }
  };
  socket.onclose = (event) => {
    clearInterval(timer);
    endCapture(session);
    if (!session.done) say($("#asr-status"), `The connection closed (${event.code}) before the transcript came`, true);
    if (live === session) live = null;
    $("#transcript").classList.remove("partial");
    pressed($("#live"), false, "Live");
    $("#live").disabled = false;
  };
}

function endCapture(session) {
  session.stopping = true;
  session.source.disconnect();
  session.stream.getTracks().forEach((track) => track.stop());
  if (session.context.state !== "closed") session.context.close();
}

function stopLive() {
  const session = live;
  endCapture(session);
  session.stoppedAt = performance.now();
  pressed($("#live"), true, "Finishing…");
  $("#live").disabled = true;
  if (session.socket.readyState === WebSocket.OPEN) session.socket.send(JSON.stringify({ type: "stop" }));
  say($("#asr-status"), "Finishing the transcript…");
}

function showFinal(session, message) {
  session.done = true;
  const result = message.transcription;
  $("#transcript").classList.remove("partial");
  $("#transcript").textContent = result.text || "(nothing heard)";
  showWords(result.words);
  const waited = session.stoppedAt ? `, final transcript ${((performance.now() - session.stoppedAt) / 1000).toFixed(1)} s after Stop` : "";
  say($("#asr-status"), message.message || `${result.duration_s.toFixed(1)} s of audio${waited}.`);
  loadHistory();
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
    await play(player, result.audio_url);
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
  const listen = document.createElement("button");
  listen.type = "button";
  listen.className = "listen";
  listen.textContent = "Play";
  listen.setAttribute("aria-label", `Play ${kind} ${item.id}`);
  listen.addEventListener("click", async () => {
    try {
      const player = document.createElement("audio");
      player.controls = true;
      await play(player, item.audio_url);
      listen.replaceWith(player);
      player.play().catch(() => { /* autoplay refused: the controls are there */ });
    } catch (error) {
      meta.textContent = `Could not load the audio: ${error.message}`;
    }
  });
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
  li.append(line, meta, listen, remove);
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
  keepKeyFromAddress();
  $("#key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    localStorage.setItem(KEY_ITEM, $("#key-input").value.trim());
    $("#key-input").value = "";
    $("#key-form").hidden = true;
    loadHistory();
  });
  const record = $("#record");
  const liveButton = $("#live");
  if (!navigator.mediaDevices || !window.MediaRecorder || !window.AudioWorkletNode) {
    // getUserMedia (and AudioWorklet) exist only in secure contexts (https, or localhost).
    record.disabled = true;
    liveButton.disabled = true;
    $("#record-note").hidden = false;
    $("#record-note").textContent = "Recording needs https (or localhost) and a browser with MediaRecorder; choose a file instead (phones offer to record one).";
  }
  liveButton.addEventListener("click", () => {
    if (live) stopLive();
    else startLive().catch((error) => say($("#asr-status"), `No microphone: ${error.message}`, true));
  });
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
