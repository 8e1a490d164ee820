import type { IKoffiLib } from 'koffi';
import { loadKoffi, type Koffi } from './koffi.js';

export interface SystemLibraryOptions<T> {
  /** File names to try, in order (the versioned Linux name first). */
  names: readonly string[];
  /** Why it must not be used (an environment switch), or undefined. */
  disabled(): string | undefined;
  /** Declares the functions the caller needs; throws when one is missing. */
  bind(lib: IKoffiLib, koffi: Koffi): T;
}

export interface SystemLibrary<T> {
  /** The bound library, loaded on first use; undefined when it cannot be (see error()). */
  get(): T | undefined;
  /** Why get() is undefined. */
  error(): string | undefined;
}

/** A system shared library called through koffi's FFI (no compiler, no addon), loaded once per process on first use. */
export function systemLibrary<T>(opts: SystemLibraryOptions<T>): SystemLibrary<T> {
  let loaded: T | undefined;
  let failure: string | undefined;
  const get = (): T | undefined => {
    if (loaded || failure) return loaded;
    failure = opts.disabled();
    if (failure) return undefined;
    let koffi: Koffi;
    try {
      koffi = loadKoffi();
    } catch (err) {
      failure = (err as Error).message;
      return undefined;
    }
    const errors: string[] = [];
    for (const name of opts.names) {
      try {
        loaded = opts.bind(koffi.load(name), koffi);
        return loaded;
      } catch (err) {
        errors.push(`${name}: ${(err as Error).message}`);
      }
    }
    failure = errors.join('; ');
    return undefined;
  };
  return {
    get,
    error: () => (get(), failure),
  };
}
