// Live captions' capture (an AudioWorklet, on the browser's audio thread): the microphone at the AudioContext's
// rate, mixed to one channel, as 16-bit PCM frames of `frameSamples` posted to the page, which sends them to the
// gateway (the gateway resamples to 16 kHz).
"use strict";

class PcmFrames extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.size = options.processorOptions.frameSamples;
    this.frame = new Int16Array(this.size);
    this.filled = 0;
  }

  process(inputs) {
    const channels = inputs[0];
    if (!channels || channels.length === 0) return true;
    for (let i = 0; i < channels[0].length; i++) {
      let sum = 0;
      for (const channel of channels) sum += channel[i];
      // as a WAV of it would hold the sample: rounded, clipped to 16 bits
      this.frame[this.filled++] = Math.max(-32768, Math.min(32767, Math.round((sum / channels.length) * 32768)));
      if (this.filled === this.size) {
        this.port.postMessage(this.frame.buffer, [this.frame.buffer]);
        this.frame = new Int16Array(this.size);
        this.filled = 0;
      }
    }
    return true;
  }
}

registerProcessor("pcm-frames", PcmFrames);
