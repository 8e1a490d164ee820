export interface OpusFrameEncoderOptions {
  /** Target bitrate (bit/s). Default 32 000: voice at full band, about what browsers send. */
  bitrate?: number;
  /** libopus complexity 0…10. Default COMPLEXITY_DEFAULT (see OpusFrameEncoder.ts for the measurement). */
  complexity?: number;
  /** In-band FEC (LBRR): the next packet carries a coarse copy of this one, for receivers that use it. Default true. */
  fec?: boolean;
  /** Loss (%) the encoder plans its FEC for. Default 10. */
  expectedLossPercent?: number;
}
