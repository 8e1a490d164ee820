/** Video codecs whose send rate Chromium starts from `x-google-start-bitrate` (kbit/s) when the answer says so. */
const VIDEO_CODECS = new Set(['vp8', 'vp9', 'h264', 'av1']);

/**
 * `sdp` (our answer to a publisher) with `x-google-start-bitrate=kbps` on each video codec's fmtp. Chromium's send
 * side starts its bandwidth estimate there instead of 300 kbit/s; it still lowers it at once on loss or queueing.
 */
export function withStartBitrate(sdp: string, kbps: number): string {
  const lines = sdp.split('\r\n');
  const video = new Set<string>();
  for (const line of lines) {
    const m = /^a=rtpmap:(\d+) ([^/]+)\//.exec(line);
    if (m && VIDEO_CODECS.has(m[2]!.toLowerCase())) video.add(m[1]!);
  }
  const param = `x-google-start-bitrate=${kbps}`;
  const withFmtp = new Set<string>();
  const out = lines.map((line) => {
    const m = /^a=fmtp:(\d+) (.*)$/.exec(line);
    if (!m || !video.has(m[1]!)) return line;
    withFmtp.add(m[1]!);
    return m[2]!.includes('x-google-start-bitrate') ? line : `${line};${param}`;
  });
  // Codecs without an fmtp line (VP8) get one after their rtpmap.
  return out
    .flatMap((line) => {
      const m = /^a=rtpmap:(\d+) /.exec(line);
      return m && video.has(m[1]!) && !withFmtp.has(m[1]!) ? [line, `a=fmtp:${m[1]} ${param}`] : [line];
    })
    .join('\r\n');
}
