import type { RtpPacket } from 'werift';
import { RtpClock } from './RtpClock.js';

interface RtpInput {
  rtp?: RtpPacket;
  eol?: boolean;
}
export interface TimedRtp {
  rtp?: RtpPacket;
  /** ms since the track's first packet, from RTP timestamps (not arrival time). */
  time?: number;
  eol?: boolean;
}

/**
 * A werift-style processor stage that stamps packets with media time from their RTP timestamps. Used instead of
 * werift's NtpTimeCallback (holds everything until the first sender report and stretched video ~10 % in our runs) and
 * RtpTimeCallback (truncates per packet, drifts). Sender reports are kept in the manifest for cross-track alignment.
 */
export class RtpTimeStage {
  private readonly clock: RtpClock;
  private cb?: (out: TimedRtp) => void;

  constructor(clockRate: number) {
    this.clock = new RtpClock(clockRate);
  }

  pipe(cb: (out: TimedRtp) => void): this {
    this.cb = cb;
    return this;
  }

  input = (input: RtpInput): void => {
    if (input.eol) return this.cb?.({ eol: true });
    if (!input.rtp) return;
    const ticks = this.clock.update(input.rtp.header.timestamp);
    this.cb?.({ rtp: input.rtp, time: this.clock.toMs(ticks) });
  };
}
