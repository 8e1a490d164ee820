export interface VoiceJitterBufferOptions {
  /** Audio buffered (ms) before playout starts, i.e. the jitter it absorbs from the start. Default 40. */
  targetMs?: number;
  /** Depth beyond targetMs (ms) that counts as excess latency. Default 60. */
  excessMs?: number;
  /** Excess held this long (ms) drops one frame (then the count starts again). Default 1000. */
  excessHoldMs?: number;
  /** No packet for longer than this (ms): the talker stopped; the buffer resets and re-anchors. Default 500. */
  resetAfterMs?: number;
}

export interface VoiceJitterBufferStats {
  /** Packets pushed (all of them, whatever became of them). */
  packets: number;
  /** Arrived after their audio was due (already concealed or skipped): dropped. */
  late: number;
  /** Same packet again (same timestamp queued, or same sequence number just played): ignored. */
  duplicates: number;
  /** Empty or malformed TOC, or the queue was full: dropped. */
  invalid: number;
  /** Chunks (a frame or a lost packet's length) filled by libopus packet-loss concealment. */
  concealed: number;
  /** Lost packets decoded from the next packet's in-band FEC data instead (system libopus; it conceals where there is none). */
  fecDecoded: number;
  /** pull()s that found too little audio: 20 ms (less what was left) inserted, the play point held. */
  underruns: number;
  /** Frames dropped to cut latency after the depth stayed above target + excess. */
  dropped: number;
  /** Silent frames skipped to bring a deeper-than-needed buffer back to its target (see VoiceJitterBuffer). */
  silenceSkipped: number;
  /** Restarts after a silence or a timestamp discontinuity (re-anchored on the next packet). */
  resets: number;
  /** Packets played as silence without decoding: their sender's RFC 6464 level said silence. */
  silent: number;
  /** Packets played as silence without decoding while `decoding` was off (a voice too quiet to be mixed). */
  undecoded: number;
  /** Audio from the play point to the end of the newest packet (ms), holes included. */
  depthMs: number;
}
