// AudioWorklet: the microphone's samples as 16 kHz mono 16-bit PCM, posted in frames of 100 ms
// (with their peak level). The context runs at 16 kHz where the browser allows it; otherwise this
// resamples linearly (the band above 8 kHz is not used by the model).
"use strict";
const TARGET_RATE = 16000;
const FRAME = 1600;

class PcmFrames extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = sampleRate / TARGET_RATE;
    this.pos = 0; // position of the next output sample, in input samples from the current block's start
    this.last = 0;
    this.frame = new Int16Array(FRAME);
    this.filled = 0;
    this.peak = 0;
  }

  push(x) {
    const s = Math.max(-1, Math.min(1, x));
    this.peak = Math.max(this.peak, Math.abs(s));
    this.frame[this.filled++] = s < 0 ? s * 32768 : s * 32767;
    if (this.filled === FRAME) {
      this.port.postMessage({ pcm: this.frame.buffer, peak: this.peak }, [this.frame.buffer]);
      this.frame = new Int16Array(FRAME);
      this.filled = 0;
      this.peak = 0;
    }
  }

  process(inputs) {
    const channels = inputs[0];
    if (!channels || channels.length === 0) return true;
    const n = channels[0].length;
    const mono = new Float32Array(n);
    for (const ch of channels) for (let k = 0; k < n; k++) mono[k] += ch[k] / channels.length;
    if (this.step === 1) {
      for (let k = 0; k < n; k++) this.push(mono[k]);
      return true;
    }
    while (this.pos < n) {
      const i = Math.floor(this.pos);
      const frac = this.pos - i;
      const a = i === 0 ? this.last : mono[i - 1];
      const b = mono[i];
      this.push(a + (b - a) * frac);
      this.pos += this.step;
    }
    this.pos -= n;
    this.last = mono[n - 1];
    return true;
  }
}

registerProcessor("pcm-frames", PcmFrames);
