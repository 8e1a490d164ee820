import type { IKoffiLib } from 'koffi';
import { systemLibrary } from '../../native/systemLibrary.js';

/**
 * The system's OpenSSL libcrypto (Debian `libssl3`), for AES-128-GCM with one cipher context per SRTP key: node's
 * crypto cannot give a GCM context a new IV, so werift's SRTP makes a cipher object per packet (key schedule, GHASH
 * init, a few allocations) where OpenSSL only needs the new IV. Measured here: 4.5-5.2 µs against 7.3-9.3 µs a
 * 1,100-byte packet, before the garbage those objects leave. Loaded once per process; `undefined` (with the reason in
 * `libcryptoError`) where there is none or `RTC_RECORD_SRTP=node`, and SRTP stays on node's crypto.
 */
export interface LibCrypto {
  version: string;
  /** A new AES-128-GCM context keyed with `key`, for encrypting (or decrypting). */
  gcmContext(key: Uint8Array, encrypt: boolean): unknown;
  freeContext(ctx: unknown): void;
  /** Encrypts `input` into `output` (same length) with `aad` under `iv`, then writes the 16-byte tag into `tag`. */
  gcmEncrypt(ctx: unknown, iv: Uint8Array, aad: Uint8Array, input: Uint8Array, output: Uint8Array, tag: Uint8Array): boolean;
  /** Decrypts `input` into `output` (same length); false when the tag does not authenticate `aad` and `input`. */
  gcmDecrypt(ctx: unknown, iv: Uint8Array, aad: Uint8Array, input: Uint8Array, output: Uint8Array, tag: Uint8Array): boolean;
  /**
   * gcmEncrypt on native memory, every pointer an address (nativeMemory.ts): `length` bytes at `data` encrypted in
   * place, then the tag at `tag`. 1.4-3.8 against 5.7-9.1 µs a 1,100-byte packet in a loop (gcmEncrypt into a new
   * Buffer): koffi marshals a typed array slowly, a number fast, and EVP_Cipher skips EVP_EncryptUpdate's checks.
   */
  gcmEncryptAt(ctx: unknown, iv: number, aad: number, aadLength: number, data: number, length: number, tag: number): boolean;
  /**
   * gcmDecrypt on native memory, every pointer an address: `length` bytes at `data` decrypted in place; false when the
   * 16-byte tag at `tag` does not authenticate the AAD and the ciphertext (the bytes at `data` are then garbage).
   */
  gcmDecryptAt(ctx: unknown, iv: number, aad: number, aadLength: number, data: number, length: number, tag: number): boolean;
}

const EVP_CTRL_GCM_GET_TAG = 0x10;
const EVP_CTRL_GCM_SET_TAG = 0x11;

const crypto = systemLibrary({
  names: ['libcrypto.so.3', 'libcrypto.so', 'libcrypto.3.dylib', 'libcrypto.dylib'],
  disabled: () => (process.env.RTC_RECORD_SRTP === 'node' ? 'disabled (RTC_RECORD_SRTP=node)' : undefined),
  bind,
});

/** The system libcrypto, or undefined when it cannot be loaded (see libcryptoError). */
export function libcrypto(): LibCrypto | undefined {
  return crypto.get();
}

/** Why libcrypto() is undefined. */
export function libcryptoError(): string | undefined {
  return crypto.error();
}

function bind(lib: IKoffiLib): LibCrypto {
  const version = lib.func('const char *OpenSSL_version(int type)');
  const cipherNew = lib.func('void *EVP_CIPHER_CTX_new()');
  const cipherFree = lib.func('void EVP_CIPHER_CTX_free(void *ctx)');
  const aes128Gcm = lib.func('const void *EVP_aes_128_gcm()');
  const encryptInit = lib.func('int EVP_EncryptInit_ex(void *ctx, const void *type, void *impl, const uint8_t *key, const uint8_t *iv)');
  const encryptUpdate = lib.func('int EVP_EncryptUpdate(void *ctx, uint8_t *out, int32_t *outl, const uint8_t *in, int inl)');
  const encryptFinal = lib.func('int EVP_EncryptFinal_ex(void *ctx, uint8_t *out, int32_t *outl)');
  const decryptInit = lib.func('int EVP_DecryptInit_ex(void *ctx, const void *type, void *impl, const uint8_t *key, const uint8_t *iv)');
  const decryptUpdate = lib.func('int EVP_DecryptUpdate(void *ctx, uint8_t *out, int32_t *outl, const uint8_t *in, int inl)');
  const decryptFinal = lib.func('int EVP_DecryptFinal_ex(void *ctx, uint8_t *out, int32_t *outl)');
  const ctrl = lib.func('int EVP_CIPHER_CTX_ctrl(void *ctx, int type, int arg, void *ptr)');
  const initAt = lib.func('EVP_EncryptInit_ex', 'int', ['void *', 'uintptr_t', 'uintptr_t', 'uintptr_t', 'uintptr_t']);
  const decryptInitAt = lib.func('EVP_DecryptInit_ex', 'int', ['void *', 'uintptr_t', 'uintptr_t', 'uintptr_t', 'uintptr_t']);
  // With AES-GCM (a "custom cipher"): the AAD when out is 0, the text, or the final tag computation when in is 0;
  // −1 on failure.
  const cipherAt = lib.func('EVP_Cipher', 'int', ['void *', 'uintptr_t', 'uintptr_t', 'uint32_t']);
  const ctrlAt = lib.func('EVP_CIPHER_CTX_ctrl', 'int', ['void *', 'int', 'int', 'uintptr_t']);
  const gcm = aes128Gcm();
  const outl = new Int32Array(1);
  // GCM writes nothing at Final; OpenSSL still wants a pointer.
  const none = new Uint8Array(16);
  return {
    version: version(0) as string,
    gcmContext: (key, encrypt) => {
      const ctx: unknown = cipherNew();
      if (!ctx) throw new Error('EVP_CIPHER_CTX_new failed');
      const ok = encrypt ? encryptInit(ctx, gcm, null, key, null) : decryptInit(ctx, gcm, null, key, null);
      if (ok !== 1) {
        cipherFree(ctx);
        throw new Error('EVP_*Init_ex(aes-128-gcm) failed');
      }
      return ctx;
    },
    freeContext: (ctx) => cipherFree(ctx),
    gcmEncrypt: (ctx, iv, aad, input, output, tag) =>
      encryptInit(ctx, null, null, null, iv) === 1 &&
      encryptUpdate(ctx, null, outl, aad, aad.length) === 1 &&
      (input.length === 0 || encryptUpdate(ctx, output, outl, input, input.length) === 1) &&
      encryptFinal(ctx, none, outl) === 1 &&
      ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag) === 1,
    gcmDecrypt: (ctx, iv, aad, input, output, tag) =>
      decryptInit(ctx, null, null, null, iv) === 1 &&
      decryptUpdate(ctx, null, outl, aad, aad.length) === 1 &&
      (input.length === 0 || decryptUpdate(ctx, output, outl, input, input.length) === 1) &&
      ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, tag) === 1 &&
      decryptFinal(ctx, none, outl) > 0,
    gcmEncryptAt: (ctx, iv, aad, aadLength, data, length, tag) =>
      initAt(ctx, 0, 0, 0, iv) === 1 &&
      cipherAt(ctx, 0, aad, aadLength) >= 0 &&
      (length === 0 || cipherAt(ctx, data, data, length) >= 0) &&
      cipherAt(ctx, 0, 0, 0) >= 0 &&
      ctrlAt(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag) === 1,
    // The final EVP_Cipher checks the tag set before it: −1 when it does not match.
    gcmDecryptAt: (ctx, iv, aad, aadLength, data, length, tag) =>
      decryptInitAt(ctx, 0, 0, 0, iv) === 1 &&
      cipherAt(ctx, 0, aad, aadLength) >= 0 &&
      (length === 0 || cipherAt(ctx, data, data, length) >= 0) &&
      ctrlAt(ctx, EVP_CTRL_GCM_SET_TAG, 16, tag) === 1 &&
      cipherAt(ctx, 0, 0, 0) >= 0,
  };
}
