interface Frame {
  data: Buffer;
  isKeyframe: boolean;
  time: number;
}
interface FrameInput {
  frame?: Frame;
  eol?: boolean;
}

/**
 * Keeps video frame times strictly increasing for the muxer. Chrome's H.264 can yield more than one depacketized unit
 * per RTP timestamp (parameter sets ahead of the picture): with `merge` they are joined into one frame. Otherwise (VP8)
 * a frame at an already-written time is a late duplicate (a retransmission after the frame was complete) and dropped.
 * Holds one frame back, so it adds one frame of latency.
 */
export class FrameMerger {
  dropped = 0;

  constructor(private readonly merge: boolean) {}

  private held?: Frame;
  private cb?: (out: FrameInput) => void;

  pipe(cb: (out: FrameInput) => void): this {
    this.cb = cb;
    return this;
  }

  input = (input: FrameInput): void => {
    if (input.frame) {
      const f = input.frame;
      if (this.held && f.time <= this.held.time) {
        if (this.merge && f.time === this.held.time) {
          this.held = { data: Buffer.concat([this.held.data, f.data]), isKeyframe: this.held.isKeyframe || f.isKeyframe, time: f.time };
        } else this.dropped++;
        return;
      }
      if (this.held) this.cb?.({ frame: this.held });
      this.held = f;
    }
    if (input.eol) {
      if (this.held) this.cb?.({ frame: this.held });
      this.held = undefined;
      this.cb?.({ eol: true });
    }
  };
}
