import { OpusDecoder, type OpusDecoderSampleRate } from 'opus-decoder';

const OPUS_RATES: readonly number[] = [8000, 12000, 16000, 24000, 48000];

export function isOpusSampleRate(rate: number): rate is OpusDecoderSampleRate {
  return OPUS_RATES.includes(rate);
}

/**
 * One libopus decoder (WASM, from the `opus-decoder` package) for one track, decoding to mono. libopus downmixes stereo
 * packets itself when the decoder is mono, so mono and mono-in-stereo senders both work and decoding stays cheapest.
 * The WASM instance starts asynchronously: `ready` resolves when decode() can be called (~15-50 ms for the first
 * decoder of the process, which compiles the module; a few ms for later ones).
 */
export class OpusTrackDecoder {
  readonly ready: Promise<void>;
  private readonly decoder: OpusDecoder<OpusDecoderSampleRate>;
  private state: 'starting' | 'ready' | 'failed' | 'freed' = 'starting';
  private failure?: unknown;

  constructor(readonly sampleRate: number) {
    if (!isOpusSampleRate(sampleRate)) throw new RangeError(`Opus cannot decode at ${sampleRate} Hz`);
    this.decoder = new OpusDecoder({ channels: 1, sampleRate });
    this.ready = this.decoder.ready.then(
      () => {
        if (this.state === 'starting') this.state = 'ready';
        else if (this.state === 'freed') this.decoder.free();
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

  /** Why the decoder could not start, if it failed. */
  get error(): unknown {
    return this.failure;
  }

  /** Decodes one packet to mono float PCM (a fresh array); empty when the packet is corrupt. Requires isReady. */
  decode(packet: Uint8Array): Float32Array {
    if (this.state !== 'ready') throw new Error(`Opus decoder is ${this.state}`);
    const out = this.decoder.decodeFrame(packet);
    return out.samplesDecoded > 0 ? out.channelData[0]!.subarray(0, out.samplesDecoded) : new Float32Array(0);
  }

  /**
   * Packet-loss concealment: what libopus guesses followed the last packet. libopus conceals up to 120 ms per call;
   * callers take the prefix they need. Requires isReady.
   */
  conceal(): Float32Array {
    return this.decode(new Uint8Array(0));
  }

  free(): void {
    if (this.state === 'ready') this.decoder.free();
    // Still starting: free once the instance exists (see constructor).
    if (this.state !== 'failed') this.state = 'freed';
  }
}
