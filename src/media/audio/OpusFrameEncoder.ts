import { createRequire } from 'node:module';
import type { OpusFrameEncoderOptions } from './OpusFrameEncoderTypes.js';

/** One frame: mono, 48 kHz, 20 ms. */
export const ENCODER_FRAME_SAMPLES = 960;

/**
 * libopus complexity. Measured on the 2-core dev machine (under load, niced; 20 s of speech-like input, mono VOIP at
 * 32 kbit/s, FEC on; CPU per 20 ms frame): complexity 10 → 400-440 µs, 5 → 205-230 µs, 3 → 160-170 µs, 0 → 80 µs.
 * 5 halves the cost of 10 at about the same size (20.8 vs 20.9 kbit/s on that input): the live mix runs up to
 * maxSpeakers + 1 encoders per room every 20 ms, so encoding is most of its cost.
 */
export const COMPLEXITY_DEFAULT = 5;

// libopus CTL requests (opus_defines.h).
const OPUS_SET_BITRATE = 4002;
const OPUS_SET_COMPLEXITY = 4010;
const OPUS_SET_INBAND_FEC = 4012;
const OPUS_SET_PACKET_LOSS_PERC = 4014;
const OPUS_APPLICATION_VOIP = 2048;
/** Largest packet libopus writes (3 × 1276 bytes, opusscript's buffer size). */
const MAX_PACKET_BYTES = 3828;

/** The parts of opusscript's emscripten module (libopus 1.4 + its C++ handler) that we call. */
interface OpusScriptHandler {
  /**
   * Encodes `count` samples found at `inPtr` as one byte per 16-bit element (low byte, high byte, …), which the
   * handler packs into int16 in place; writes the packet at `outPtr` and returns its length (< 0: libopus error).
   */
  _encode(inPtr: number, count: number, outPtr: number, frameSize: number): number;
  _encoder_ctl(ctl: number, arg: number): number;
}

interface OpusScriptNative {
  OpusScriptHandler: {
    new (sampleRate: number, channels: number, application: number): OpusScriptHandler;
    destroy_handler(handler: OpusScriptHandler): void;
  };
  _malloc(bytes: number): number;
  _free(ptr: number): void;
  /** Views of the WASM memory, replaced when it grows: read them afresh on every use. */
  HEAPU8: Uint8Array;
  HEAPU16: Uint16Array;
}

let native: OpusScriptNative | undefined;

/**
 * opusscript's emscripten module, instantiated synchronously on first use (compiles ~300 KB of WASM once per process).
 * We call it directly instead of through opusscript's `OpusScript` class: that class views its input buffer at twice
 * its malloc'd address (a Uint16Array subarray indexed by a byte pointer), so it writes 11.5 KB into memory other
 * instances own, the ~80th live instance fails with "offset is out of bounds", and once the WASM memory grows
 * (~150 instances) every older instance throws "detached ArrayBuffer" (all reproduced with 0.1.1).
 */
function opusscriptNative(): OpusScriptNative {
  native ??= (createRequire(import.meta.url)('opusscript/build/opusscript_native_wasm.js') as () => OpusScriptNative)();
  return native;
}

/**
 * libopus encoder for one mono 48 kHz stream of 20 ms frames (one mix output of the live MCU). VOIP mode (speech:
 * SILK/hybrid), in-band FEC planned for some loss, since listeners are on real networks.
 */
export class OpusFrameEncoder {
  private readonly lib: OpusScriptNative;
  private handler: OpusScriptHandler | undefined;
  /** Input: one byte per 16-bit element, 2 × 960 elements (the handler's calling convention, see _encode). */
  private readonly inPtr: number;
  private readonly outPtr: number;

  constructor(opts: OpusFrameEncoderOptions = {}) {
    const lib = opusscriptNative();
    this.lib = lib;
    this.handler = new lib.OpusScriptHandler(48_000, 1, OPUS_APPLICATION_VOIP);
    this.inPtr = lib._malloc(ENCODER_FRAME_SAMPLES * 2 * 2);
    this.outPtr = lib._malloc(MAX_PACKET_BYTES);
    this.ctl(OPUS_SET_BITRATE, opts.bitrate ?? 32_000);
    this.ctl(OPUS_SET_COMPLEXITY, opts.complexity ?? COMPLEXITY_DEFAULT);
    this.ctl(OPUS_SET_INBAND_FEC, (opts.fec ?? true) ? 1 : 0);
    this.ctl(OPUS_SET_PACKET_LOSS_PERC, opts.expectedLossPercent ?? 10);
  }

  /**
   * Compiles and instantiates the WASM module now (synchronous, ~30-40 ms once per process; later encoders take
   * < 1 ms). Call at startup so the first live mix does not stall the media clock.
   */
  static preload(): void {
    opusscriptNative();
  }

  /** Encodes 960 float samples (full scale ±1; beyond is clamped) into one Opus packet (a fresh Buffer). */
  encode(pcm: Float32Array): Buffer {
    const handler = this.handler;
    if (!handler) throw new Error('OpusFrameEncoder is freed');
    if (pcm.length !== ENCODER_FRAME_SAMPLES) throw new RangeError(`encode needs ${ENCODER_FRAME_SAMPLES} samples, got ${pcm.length}`);
    const heap = this.lib.HEAPU16;
    let j = this.inPtr >>> 1;
    for (let i = 0; i < ENCODER_FRAME_SAMPLES; i++) {
      const v = pcm[i]! * 32767;
      const s = v >= 32767 ? 32767 : v <= -32768 ? -32768 : Math.round(v);
      heap[j++] = s & 0xff;
      heap[j++] = (s >> 8) & 0xff;
    }
    const len = handler._encode(this.inPtr, ENCODER_FRAME_SAMPLES, this.outPtr, ENCODER_FRAME_SAMPLES);
    if (len < 0) throw new Error(`libopus encode error ${len}`);
    return Buffer.from(this.lib.HEAPU8.subarray(this.outPtr, this.outPtr + len));
  }

  free(): void {
    if (!this.handler) return;
    this.lib.OpusScriptHandler.destroy_handler(this.handler);
    this.lib._free(this.inPtr);
    this.lib._free(this.outPtr);
    this.handler = undefined;
  }

  private ctl(request: number, value: number): void {
    const err = this.handler!._encoder_ctl(request, value);
    if (err < 0) throw new Error(`libopus encoder ctl ${request}=${value} failed (${err})`);
  }
}
