/**
 * The audio packet duration (ms) the recorder asks senders for. Browsers packetize Opus at 20 ms unless the answer
 * says otherwise; Chrome honours `a=ptime` (the next frame size ≥ it) and then sends a third of the packets. Every
 * packet costs the recorder the same fixed work (SRTP, RTP parsing, dispatch) whatever it carries, so this cuts the
 * audio path's CPU by about two thirds. The cost: a lost packet takes 60 ms of audio with it (Opus in-band FEC and
 * concealment cover some of that); latency does not matter to a recording.
 */
export const AUDIO_PACKET_TIME_MS = 60;

/** Adds `a=ptime:<ms>` to every audio m-section of `sdp` that has none (our answer; werift writes no ptime itself). */
export function withAudioPacketTime(sdp: string, ms: number = AUDIO_PACKET_TIME_MS): string {
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  const [session, ...media] = sdp.split(`${eol}m=`);
  const sections = media.map((m) => {
    if (!m.startsWith('audio ') || /(^|\n)a=ptime:/.test(m)) return m;
    const body = m.endsWith(eol) ? m.slice(0, -eol.length) : m;
    return `${body}${eol}a=ptime:${ms}${m.endsWith(eol) ? eol : ''}`;
  });
  return [session, ...sections].join(`${eol}m=`);
}

/** The `a=ptime` of the first audio m-section of `sdp`, if any. */
export function audioPacketTime(sdp: string): number | undefined {
  const audio = sdp.split(/\r?\nm=/).find((m) => m.startsWith('audio '));
  const m = audio && /(?:^|\n)a=ptime:(\d+)/.exec(audio);
  return m ? Number(m[1]) : undefined;
}
