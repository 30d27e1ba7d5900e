// The recognition page: the microphone streamed over the WebSocket /v1/stream, a file decoded and
// resampled in the browser and streamed the same way, and pinyin to characters through POST /language.
"use strict";
const RATE = 16000;
const FRAME_SECONDS = 0.1; // pcm-worklet.js posts frames of 1600 samples
const RETRIES = 5;
const $ = (id) => document.getElementById(id);

// What happened when, for the browser tests (and anyone curious, in the console).
// With #record in the address, the microphone's audio as sent is kept too (recorded(): base64 PCM).
const debug = { events: [], levels: [], frameTimes: [], pcm: [], recording: location.hash.includes("record") };
debug.recorded = () => {
  const bytes = new Uint8Array(debug.pcm.reduce((n, p) => n + p.byteLength, 0));
  debug.pcm.reduce((at, p) => { bytes.set(new Uint8Array(p), at); return at + p.byteLength; }, 0);
  let text = "";
  for (let k = 0; k < bytes.length; k += 0x8000) text += String.fromCharCode(...bytes.subarray(k, k + 0x8000));
  return btoa(text);
};
window.asrtDebug = debug;
function note(kind, detail = {}) {
  debug.events.push({ t: performance.now(), kind, ...detail });
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
  note("error", { message });
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

function marks() {
  return $("tone-marks").checked;
}

function streamUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/v1/stream?sample_rate=${RATE}`;
}

function seconds(s) {
  return `${s.toFixed(2)} s`;
}

// One committed segment: its time span, its characters over their pinyin, and the endpoint marker.
function segmentItem(tag, message, offset) {
  const item = document.createElement(tag);
  item.className = "segment";
  const time = document.createElement("span");
  time.className = "time";
  time.textContent = `${seconds(offset + message.start)} – ${seconds(offset + message.end)}`;
  const marker = document.createElement("span");
  marker.className = "endpoint";
  marker.title = "endpoint";
  marker.textContent = "⏎";
  item.append(time, AsrtPinyin.ruby(message.text, message.pinyin, marks()), marker);
  return item;
}

// Close codes of the server's stream: 1008 a limit or a bad frame, 1011 a server failure.
function closeReason(event, lastError) {
  if (lastError) return lastError;
  if (event.code === 1008) return "the server refused the stream (a limit was reached)";
  if (event.code === 1011) return "the server failed; see its log";
  return `the connection closed (code ${event.code})`;
}

// A stream of PCM frames to /v1/stream: calls onMessage for each result, onClosed(reason) at the end
// (reason null after the server's "done").
class Stream {
  constructor(onMessage, onClosed) {
    this.ws = new WebSocket(streamUrl());
    this.ws.binaryType = "arraybuffer";
    this.done = false;
    this.error = null;
    this.opened = new Promise((resolve, reject) => {
      this.ws.onopen = resolve;
      this.ws.onerror = () => reject(new Error("cannot reach the server"));
    });
    this.ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.type === "done") this.done = true;
      else if (m.type === "error") this.error = m.message;
      else onMessage(m);
    };
    this.ws.onclose = (e) => onClosed(this.done ? null : closeReason(e, this.error), e);
  }

  // Frames sent while the connection opens wait for it.
  send(data) {
    if (this.ws.readyState === WebSocket.CONNECTING) {
      this.opened.then(() => this.ws.send(data), () => {});
    } else if (this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(data);
    }
  }

  end() {
    this.send(JSON.stringify({ type: "end" }));
  }
}

// The microphone: an AudioWorklet's 16 kHz frames streamed while the button is on; a connection that
// is lost is opened again (up to RETRIES times), the audio meanwhile is not recognised.
class Microphone {
  constructor() {
    this.button = $("mic-button");
    this.button.addEventListener("click", () => (this.on ? this.stop() : this.start()));
    this.on = false;
    this.latencies = [];
  }

  async start() {
    clearError();
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      return showError("The microphone needs a secure page: open this page over https or as http://localhost.");
    }
    try {
      this.media = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
      });
    } catch (e) {
      note("mic-refused", { name: e.name });
      if (e.name === "NotAllowedError" || e.name === "SecurityError") {
        return showError("Microphone permission was denied: allow the microphone for this site in the browser's "
          + "settings (the icon by the address), then press Start again.");
      }
      if (e.name === "NotFoundError") return showError("No microphone was found: connect one and press Start again.");
      return showError(`The microphone could not be opened (${e.name}): ${e.message}`);
    }
    await this.startAudio();
    this.on = true;
    this.button.textContent = "Stop the microphone";
    this.button.setAttribute("aria-pressed", "true");
    this.started = performance.now();
    this.sent = 0; // seconds of audio sent since the microphone started
    this.retries = 0;
    this.timer = setInterval(() => { $("elapsed").textContent = `${((performance.now() - this.started) / 1000).toFixed(1)} s`; }, 100);
    note("mic-start");
    this.connect();
  }

  async startAudio() {
    try {
      this.audio = new AudioContext({ sampleRate: RATE });
    } catch (e) {
      this.audio = new AudioContext(); // pcm-worklet.js resamples
    }
    await this.audio.audioWorklet.addModule("/web/pcm-worklet.js");
    const source = this.audio.createMediaStreamSource(this.media);
    this.node = new AudioWorkletNode(this.audio, "pcm-frames");
    this.node.port.onmessage = (e) => this.frame(e.data);
    source.connect(this.node);
  }

  connect() {
    this.base = this.sent; // results' times are in seconds of their stream
    this.frames = []; // when each frame of this stream was sent
    this.stream = new Stream((m) => this.result(m), (reason) => this.closed(reason));
    this.stream.opened.then(() => {
      if (this.retries) {
        clearError();
        note("reconnected");
      }
      this.retries = 0;
      $("mic-status").textContent = "Listening…";
    }, () => {});
  }

  frame({ pcm, peak }) {
    const samples = new Int16Array(pcm);
    for (let k = 0; k + 160 <= samples.length; k += 160) {
      let sum = 0;
      for (let j = k; j < k + 160; j++) sum += (samples[j] / 32768) ** 2;
      debug.levels.push(10 * Math.log10(sum / 160 + 1e-12));
    }
    const now = performance.now();
    debug.frameTimes.push(now);
    $("level").style.width = `${Math.min(100, Math.round(Math.sqrt(peak) * 100))}%`;
    this.sent += FRAME_SECONDS;
    if (this.stream && this.on) {
      this.frames.push(now);
      if (debug.recording) debug.pcm.push(pcm.slice(0));
      this.stream.send(pcm);
    }
  }

  // Latency: from the moment the audio a result covers had been sent, to the result's arrival.
  latency(message) {
    const k = Math.max(0, Math.ceil(message.end / FRAME_SECONDS - 1e-6) - 1);
    if (k >= this.frames.length) return;
    const ms = performance.now() - this.frames[k];
    this.latencies.push(ms);
    const sorted = [...this.latencies].sort((a, b) => a - b);
    $("latency").textContent = `${Math.round(ms)} ms (median ${Math.round(sorted[sorted.length >> 1])} ms)`;
  }

  result(m) {
    this.latency(m);
    note(m.type, { text: m.text, start: this.base + m.start, end: this.base + m.end });
    const partial = $("partial");
    partial.replaceChildren();
    if (m.type === "partial") {
      if (m.text) partial.append(AsrtPinyin.ruby(m.text, m.pinyin, marks()));
    } else if (m.text) {
      $("mic-results").append(segmentItem("p", m, this.base));
    }
  }

  closed(reason) {
    if (!this.on || reason === null) return;
    if (this.stream && this.stream.error) { // the server refused: retrying would not help
      showError(`The server ended the stream: ${this.stream.error}`);
      return this.stop();
    }
    if (++this.retries > RETRIES) {
      showError(`The connection to the server was lost (${reason}) and ${RETRIES} retries failed; press Start to try again.`);
      return this.stop();
    }
    const wait = Math.min(8, 2 ** (this.retries - 1));
    showError(`The connection to the server was lost (${reason}); retrying in ${wait} s (attempt ${this.retries} of ${RETRIES})…`);
    this.stream = null;
    setTimeout(() => { if (this.on) this.connect(); }, wait * 1000);
  }

  stop() {
    this.on = false;
    clearInterval(this.timer);
    if (this.stream) this.stream.end(); // the server commits the rest, answers "done" and closes
    if (this.media) this.media.getTracks().forEach((t) => t.stop());
    if (this.audio) this.audio.close();
    this.button.textContent = "Start the microphone";
    this.button.setAttribute("aria-pressed", "false");
    $("level").style.width = "0";
    $("mic-status").textContent = "";
    note("mic-stop");
  }
}

function setStatus(text) {
  $("server-status").textContent = text;
}

// A file: decoded by the browser, mixed to mono and resampled to 16 kHz (OfflineAudioContext), streamed
// as fast as the connection takes it; each committed segment is listed with its times.
async function recognizeFile(file) {
  clearError();
  const status = $("file-status");
  const progress = $("file-progress");
  const list = $("file-results");
  list.replaceChildren();
  status.textContent = `Decoding ${file.name}…`;
  let samples;
  try {
    samples = await decodeToMono16k(await file.arrayBuffer());
  } catch (e) {
    status.textContent = "";
    return showError(`${file.name} could not be decoded as audio: choose a WAV or FLAC file.`);
  }
  const duration = samples.length / RATE;
  const began = performance.now();
  status.textContent = `Recognising ${seconds(duration)} of audio…`;
  progress.hidden = false;
  progress.value = 0;
  note("file-start", { duration });
  const finished = new Promise((resolve) => {
    const stream = new Stream((m) => {
      progress.value = duration ? Math.min(1, m.end / duration) : 1;
      if (m.type === "final" && m.text) {
        list.append(segmentItem("li", m, 0));
        note("file-segment", { text: m.text, start: m.start, end: m.end });
      }
    }, resolve);
    stream.opened.then(() => sendAll(stream, samples), () => {});
  });
  const reason = await finished;
  progress.hidden = true;
  if (reason) {
    status.textContent = "";
    return showError(`${file.name} was not recognised: ${reason}.`);
  }
  const took = (performance.now() - began) / 1000;
  status.textContent = `${file.name}: ${list.children.length} segment(s), ${seconds(duration)} of audio in ${seconds(took)}.`;
  note("file-done", { segments: list.children.length });
}

async function decodeToMono16k(data) {
  const decoded = await new OfflineAudioContext(1, 1, RATE).decodeAudioData(data); // resampled to RATE
  const context = new OfflineAudioContext(1, Math.max(1, decoded.length), RATE);
  const source = context.createBufferSource();
  source.buffer = decoded;
  source.connect(context.destination); // down-mixed to the context's one channel
  source.start();
  return (await context.startRendering()).getChannelData(0).subarray(0, decoded.length);
}

async function sendAll(stream, samples) {
  const chunk = RATE; // one second per frame
  for (let k = 0; k < samples.length; k += chunk) {
    const piece = samples.subarray(k, k + chunk);
    const pcm = new Int16Array(piece.length);
    for (let j = 0; j < piece.length; j++) {
      const s = Math.max(-1, Math.min(1, piece[j]));
      pcm[j] = s < 0 ? s * 32768 : s * 32767;
    }
    while (stream.ws.bufferedAmount > 8 * chunk) await new Promise((r) => setTimeout(r, 20));
    stream.send(pcm.buffer);
  }
  stream.end();
}

// Pinyin to characters: POST /language, ASRT's route (HTTP 200; the outcome is status_code).
async function convertPinyin(event) {
  event.preventDefault();
  clearError();
  const out = $("pinyin-result");
  const syllables = $("pinyin-input").value.trim().split(/[\s,]+/).filter(Boolean).map(AsrtPinyin.withNumber);
  if (!syllables.length) return showError("Type some tonal pinyin first, for example: ni3 hao3.");
  try {
    const r = await fetch("/language", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ sequence_pinyin: syllables }) });
    const answer = await r.json();
    if (answer.status_code !== 200000) {
      out.replaceChildren();
      return showError(`The server could not convert it: ${answer.status_message}`);
    }
    out.replaceChildren(AsrtPinyin.ruby(answer.result, syllables, marks()));
    note("language", { text: answer.result });
  } catch (e) {
    showError("The server did not answer; check that asrt serve is running.");
  }
}

async function checkServer() {
  try {
    const r = await fetch("/health");
    const h = await r.json();
    setStatus(`Model ${h.model}${h.streaming ? " (streaming)" : " (recognised again as the audio grows)"}, ready.`);
  } catch (e) {
    setStatus("The server does not answer; check that asrt serve is running.");
  }
}

function setUp() {
  new Microphone();
  $("pinyin-form").addEventListener("submit", convertPinyin);
  $("file-input").addEventListener("change", (e) => { if (e.target.files[0]) recognizeFile(e.target.files[0]); });
  const zone = $("drop-zone");
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    if (e.dataTransfer.files[0]) recognizeFile(e.dataTransfer.files[0]);
  });
  $("tone-marks").addEventListener("change", () => AsrtPinyin.restyle(document, marks()));
  checkServer();
}

document.addEventListener("DOMContentLoaded", setUp);
