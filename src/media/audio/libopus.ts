import type { IKoffiLib } from 'koffi';
import { systemLibrary } from '../../native/systemLibrary.js';

/**
 * The system's libopus decoder (Debian `libopus0`, which ffmpeg depends on), called through koffi's FFI: no compiler,
 * no WASM. Against the WASM build it replaces it decodes 3-5× faster (measured here: 26-31 µs vs 85-164 µs per 20 ms
 * frame) and it does what the WASM wrappers cannot: decode a lost frame from the next packet's in-band FEC data
 * (`decode_fec`; both wrappers pass 0). Loaded once per process on first use; `undefined` (with the reason in
 * `libopusError`) where there is no libopus or `RTC_RECORD_LIBOPUS=0`, and callers fall back to WASM. Encoding stays
 * on opusscript's libopus 1.4: Debian 12's 1.3.1 encoded the live mix's test tones lower and noisier.
 */
export interface LibOpus {
  version: string;
  decoderCreate(sampleRate: number, channels: number): unknown;
  /** Samples decoded per channel, or a negative libopus error. `data` null: packet-loss concealment of `frameSize`. */
  decodeFloat(decoder: unknown, data: Uint8Array | null, out: Float32Array, frameSize: number, fec: boolean): number;
  decoderDestroy(decoder: unknown): void;
}

const opus = systemLibrary({
  names: ['libopus.so.0', 'libopus.so', 'libopus.0.dylib', 'libopus.dylib'],
  disabled: () => (process.env.RTC_RECORD_LIBOPUS === '0' ? 'disabled (RTC_RECORD_LIBOPUS=0)' : undefined),
  bind,
});

/** The system libopus, or undefined when it cannot be loaded (see libopusError). */
export function libopus(): LibOpus | undefined {
  return opus.get();
}

/** Why libopus() is undefined. */
export function libopusError(): string | undefined {
  return opus.error();
}

function bind(lib: IKoffiLib): LibOpus {
  const version = lib.func('const char *opus_get_version_string()');
  const decoderCreate = lib.func('void *opus_decoder_create(int32_t fs, int channels, _Out_ int *error)');
  const decode = lib.func('int opus_decode_float(void *st, const uint8_t *data, int32_t len, _Out_ float *pcm, int frame_size, int decode_fec)');
  const decoderDestroy = lib.func('void opus_decoder_destroy(void *st)');
  return {
    version: version() as string,
    decoderCreate: (sampleRate, channels) => {
      const error = [0];
      const handle: unknown = decoderCreate(sampleRate, channels, error);
      if (!handle || error[0] !== 0) throw new Error(`opus_decoder_create failed (libopus error ${error[0]})`);
      return handle;
    },
    decodeFloat: (decoder, data, out, frameSize, fec) => decode(decoder, data, data ? data.length : 0, out, frameSize, fec ? 1 : 0) as number,
    decoderDestroy: (decoder) => decoderDestroy(decoder),
  };
}
