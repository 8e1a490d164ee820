import { loadKoffi } from './koffi.js';

/** Memory outside V8's heap, for FFI calls that take it by address: no typed array for koffi to pin per argument. */
export interface NativeMemory {
  /** Its address, as FFI functions declared with `uintptr_t` take it. */
  address: number;
  /** The same bytes, for JavaScript to read and write. */
  bytes: Buffer;
}

/** koffi's pointers to what nativeMemory handed out, kept so that nothing frees them. */
const kept: unknown[] = [];

/** `size` bytes that live as long as the process (never freed: meant for a few per-process scratch buffers). */
export function nativeMemory(size: number): NativeMemory {
  const koffi = loadKoffi();
  const pointer: unknown = koffi.alloc('uint8_t', size);
  kept.push(pointer);
  return { address: Number(koffi.address(pointer)), bytes: Buffer.from(koffi.view(pointer, size)) };
}
