/** A white-on-transparent text bitmap: one alpha byte (0–255) per pixel, `width` x `height` (both even). */
export interface TextMask {
  width: number;
  height: number;
  alpha: Buffer;
}
