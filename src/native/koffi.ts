import { createRequire } from 'node:module';

export type Koffi = typeof import('koffi');

let koffi: Koffi | undefined;
let failure: string | undefined;

/**
 * koffi, loaded on first use rather than imported: on a platform koffi has no build for, callers fall back to their
 * JavaScript/WASM path instead of failing to start. Throws (the same message each time) when it cannot be loaded.
 */
export function loadKoffi(): Koffi {
  if (koffi) return koffi;
  if (failure === undefined) {
    try {
      koffi = createRequire(import.meta.url)('koffi') as Koffi;
      return koffi;
    } catch (err) {
      failure = `koffi: ${(err as Error).message}`;
    }
  }
  throw new Error(failure);
}
