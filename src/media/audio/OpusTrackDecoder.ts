import { OpusDecoder, type OpusDecoderSampleRate } from 'opus-decoder';
import { libopus, type LibOpus } from './libopus.js';

const OPUS_RATES: readonly number[] = [8000, 12000, 16000, 24000, 48000];
/** The longest Opus packet: 120 ms at 48 kHz. */
const MAX_FRAME_48K = 5760;

export function isOpusSampleRate(rate: number): rate is OpusDecoderSampleRate {
  return OPUS_RATES.includes(rate);
}

/**
 * One libopus decoder for one track, decoding to mono. libopus downmixes stereo packets itself when the decoder is
 * mono, so mono and mono-in-stereo senders both work and decoding stays cheapest.
 *
 * The system libopus (see libopus.ts) when there is one: ready at once, 3-5× faster, and able to recover a lost
 * packet from the next one's in-band FEC (`recover`). Otherwise the WASM build of the `opus-decoder` package, which
 * starts asynchronously (`ready`: ~15-50 ms for the first decoder of the process, which compiles the module; a few ms
 * for later ones) and cannot use FEC (`recover` gives undefined: conceal instead).
 */
export class OpusTrackDecoder {
  readonly ready: Promise<void>;
  private readonly native?: { lib: LibOpus; handle: unknown; out: Float32Array };
  private readonly wasm?: OpusDecoder<OpusDecoderSampleRate>;
  private state: 'starting' | 'ready' | 'failed' | 'freed' = 'starting';
  private failure?: unknown;

  constructor(readonly sampleRate: number) {
    if (!isOpusSampleRate(sampleRate)) throw new RangeError(`Opus cannot decode at ${sampleRate} Hz`);
    const lib = libopus();
    if (lib) {
      this.native = { lib, handle: lib.decoderCreate(sampleRate, 1), out: new Float32Array((MAX_FRAME_48K * sampleRate) / 48_000) };
      this.state = 'ready';
      this.ready = Promise.resolve();
      return;
    }
    const wasm = new OpusDecoder({ channels: 1, sampleRate });
    this.wasm = wasm;
    this.ready = wasm.ready.then(
      () => {
        if (this.state === 'starting') this.state = 'ready';
        else if (this.state === 'freed') wasm.free();
      },
      (err: unknown) => {
        // Never rejects: a track whose decoder failed just stays silent (see `error`).
        this.state = 'failed';
        this.failure = err;
      },
    );
  }

  get isReady(): boolean {
    return this.state === 'ready';
  }

  /** Whether `recover` can use in-band FEC (the system libopus); false: it always gives undefined. */
  get canRecover(): boolean {
    return this.native !== undefined;
  }

  /** Why the decoder could not start, if it failed. */
  get error(): unknown {
    return this.failure;
  }

  /** Decodes one packet to mono float PCM (a fresh array); empty when the packet is corrupt. Requires isReady. */
  decode(packet: Uint8Array): Float32Array {
    this.assertReady();
    if (this.native) return this.nativeDecode(packet, this.native.out.length, false);
    const out = this.wasm!.decodeFrame(packet);
    return out.samplesDecoded > 0 ? out.channelData[0]!.subarray(0, out.samplesDecoded) : new Float32Array(0);
  }

  /**
   * Packet-loss concealment: what libopus guesses followed the last packet, `samples` of it (a multiple of 2.5 ms; the
   * WASM decoder always gives 120 ms, callers take the prefix they need). Requires isReady.
   */
  conceal(samples = (MAX_FRAME_48K * this.sampleRate) / 48_000): Float32Array {
    this.assertReady();
    if (this.native) return this.nativeDecode(null, samples, false);
    return this.decode(new Uint8Array(0));
  }

  /**
   * The `samples` just before `next` (the packet after a lost one), from `next`'s in-band FEC data, when the sender
   * put some there (libopus conceals otherwise). Decode `next` itself afterwards as usual. Undefined without the
   * system libopus. Requires isReady.
   */
  recover(next: Uint8Array, samples: number): Float32Array | undefined {
    this.assertReady();
    if (!this.native) return undefined;
    const pcm = this.nativeDecode(next, samples, true);
    return pcm.length > 0 ? pcm : undefined;
  }

  free(): void {
    if (this.native && this.state !== 'freed') this.native.lib.decoderDestroy(this.native.handle);
    else if (this.wasm && this.state === 'ready') this.wasm.free();
    // Still starting: free once the instance exists (see constructor).
    if (this.state !== 'failed') this.state = 'freed';
  }

  private assertReady(): void {
    if (this.state !== 'ready') throw new Error(`Opus decoder is ${this.state}`);
  }

  private nativeDecode(data: Uint8Array | null, frameSize: number, fec: boolean): Float32Array {
    const { lib, handle, out } = this.native!;
    const n = lib.decodeFloat(handle, data, out, Math.min(frameSize, out.length), fec);
    return n > 0 ? out.slice(0, n) : new Float32Array(0);
  }
}
