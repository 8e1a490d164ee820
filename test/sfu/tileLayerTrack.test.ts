// The in-process recorder's simulcast layers: which layer each tile of the composite's layouts takes, and the
// TileLayerTrack that switches layers at keyframes with the output numbering continuous.
import { describe, expect, it } from 'vitest';
import { MediaStreamTrack, RtcpSenderInfo, RtcpSrPacket, RtpHeader, RtpPacket } from 'werift';
import { parseVp8Descriptor } from '../../src/media/rtp/vp8Descriptor.js';
import { computeLayout } from '../../src/media/video/layouts.js';
import type { RemoteTrack } from '../../src/peer/RecorderPeerTypes.js';
import { ForwardMeter } from '../../src/sfu/ForwardMeter.js';
import { chooseLayer } from '../../src/sfu/layerChoice.js';
import { LAYER_STOPPED_AFTER_MS } from '../../src/sfu/LayerActivity.js';
import { PublishedTrack } from '../../src/sfu/PublishedTrack.js';
import { TileLayerTrack } from '../../src/sfu/TileLayerTrack.js';

// A 1280x720 camera's layers (q/h/f), as the bench's simulcast publishers and Chromium send them.
const HD_CAMERA = [
  { width: 320, height: 180 },
  { width: 640, height: 360 },
  { width: 1280, height: 720 },
];
const people = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `p${i}`, name: `P${i}` }));
const layersOf = (mode: 'grid' | 'speaker', n: number) =>
  computeLayout({ width: 1280, height: 720, mode, participants: people(n), activeSpeakerId: 'p0' }).map((t) => ({ role: t.role, layer: chooseLayer(HD_CAMERA, { width: t.w, height: t.h }) }));

describe('the composite\'s tiles and simulcast layers (1280x720 output)', () => {
  it('grid: one participant takes the full layer, a 2x2 grid the 640x360 one, a 3x3 grid the 320x180 one', () => {
    expect(layersOf('grid', 1).map((t) => t.layer)).toEqual([2]);
    expect(layersOf('grid', 4).map((t) => t.layer)).toEqual([1, 1, 1, 1]);
    // 2x3 of 426x360: the 640x360 layer fills the tile's height.
    expect(layersOf('grid', 6).map((t) => t.layer)).toEqual([1, 1, 1, 1, 1, 1]);
    // 3x3 of 426x240: the 320x180 layer would be stretched, so 640x360.
    expect(layersOf('grid', 9).every((t) => t.layer === 1)).toBe(true);
    expect(layersOf('grid', 16).every((t) => t.layer === 0)).toBe(true);
  });

  it('speaker: the big tile takes the full layer, the strip the lowest', () => {
    const tiles = layersOf('speaker', 4);
    expect(tiles.filter((t) => t.role === 'main').map((t) => t.layer)).toEqual([2]);
    expect(tiles.filter((t) => t.role === 'strip').map((t) => t.layer)).toEqual([0, 0, 0]);
  });
});

// Chromium 156's VP8 payloads (test/sfu/vp8Munger.test.ts): keyframes of 80x60 / 160x120 / 320x240, and a delta.
const hex = (s: string) => Buffer.from(s, 'hex');
const KEY = [hex('90e0dc8c1320b003009d012a50003c000487'), hex('90e0b9a9f620b006009d012aa00078000987'), hex('90e0c4fd8e20b012009d012a4001f0000387')];
const DELTA = hex('b0e0dc8d13a0b10300121c240c2c2c44cc24');
const SMALL_TILE = { width: 160, height: 120 };

function fakeLayer(rid: string, ssrc: number): RemoteTrack {
  const track = new MediaStreamTrack({ kind: 'video', remote: true, ssrc, rid });
  return {
    participant: { id: 'pub', name: 'Pub', role: 'participant' },
    kind: 'video',
    codec: { name: 'vp8', clockRate: 90_000, payloadType: 96 },
    ssrc,
    mid: '1',
    rid,
    track,
    requestKeyframe: async () => {
      plis.push(rid);
    },
    plisSent: 0,
    onNack: (listener) => {
      const listeners = nackListeners.get(rid) ?? nackListeners.set(rid, new Set()).get(rid)!;
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
let plis: string[] = [];
/** NACKs the SFU's receiver of each layer (by rid) sends: who listens. */
const nackListeners = new Map<string, Set<(lost: readonly number[]) => void>>();
const nack = (rid: string, lost: number[]) => nackListeners.get(rid)?.forEach((l) => l(lost));

/** Three layers with unrelated sequence numbers and timestamps; each layer's frame n is at 3000·n ticks of its own offset. */
function setUp() {
  plis = [];
  const remotes = [fakeLayer('q', 11), fakeLayer('h', 22), fakeLayer('f', 33)];
  const published = new PublishedTrack(remotes, 'camera', 0, new ForwardMeter());
  const seqBase = [100, 30_000, 65_000];
  const tsBase = [1_000, 2_000_000_000, 4_000_000_000];
  const send = (layer: number, frame: number, key: boolean) => {
    const header = new RtpHeader({ ssrc: remotes[layer]!.ssrc, payloadType: 96, sequenceNumber: (seqBase[layer]! + frame) & 0xffff, timestamp: (tsBase[layer]! + frame * 3000) >>> 0, marker: true });
    remotes[layer]!.track.onReceiveRtp.execute(new RtpPacket(header, key ? KEY[layer]! : DELTA));
  };
  // Sender reports at one NTP instant, each in its layer's own timestamps (frame 0).
  const report = (layer: number) =>
    remotes[layer]!.track.onReceiveRtcp.execute(new RtcpSrPacket({ ssrc: remotes[layer]!.ssrc, senderInfo: new RtcpSenderInfo({ ntpTimestamp: 1n << 40n, rtpTimestamp: tsBase[layer]! }) }));
  return { published, send, report, tsBase };
}

describe('TileLayerTrack', () => {
  it('starts at a keyframe of the layer that covers the tile and switches at the next keyframe, numbering continuous', () => {
    const { published, send, report } = setUp();
    [0, 1, 2].forEach(report);
    // Sizes become known from keyframes (nobody takes the layers yet).
    [0, 1, 2].forEach((l) => send(l, 0, true));
    const tile = new TileLayerTrack(published);
    const out: RtpPacket[] = [];
    const reports: RtcpSrPacket[] = [];
    tile.track.onReceiveRtp.subscribe((p) => out.push(p));
    tile.track.onReceiveRtcp.subscribe((r) => reports.push(r as RtcpSrPacket));
    tile.setTileSize(SMALL_TILE.width, SMALL_TILE.height);
    expect(tile.layers.target).toBe(1);
    expect(plis).toContain('h');
    // Deltas of h and anything of the other layers are not taken before h's keyframe.
    send(1, 1, false);
    send(2, 1, true);
    send(0, 1, true);
    expect(out).toHaveLength(0);
    send(1, 2, true);
    send(1, 3, false);
    expect(out.map((p) => p.header.ssrc)).toEqual([tile.ssrc, tile.ssrc]);
    expect(tile.layers.current).toBe(1);
    // The composite grows the tile: the full layer from its next keyframe, h until then.
    tile.setTileSize(1280, 720);
    expect(tile.layers).toEqual({ current: 1, target: 2 });
    send(2, 4, false);
    send(1, 4, false);
    send(2, 5, true);
    send(2, 6, false);
    send(1, 6, false); // h is dropped once f took over
    expect(out).toHaveLength(5);
    expect(tile.switches).toBe(1);
    const seqs = out.map((p) => p.header.sequenceNumber);
    expect(seqs.slice(1).map((s, i) => (s - seqs[i]!) & 0xffff)).toEqual([1, 1, 1, 1]);
    // Timestamps: frames 2, 3, 4 of h then 5, 6 of f, 3000 ticks apart: the sender reports place f's frames.
    const ts = out.map((p) => p.header.timestamp);
    expect(ts.slice(1).map((t, i) => (t - ts[i]!) >>> 0)).toEqual([3000, 3000, 3000, 3000]);
    // VP8 PictureIDs continue across the switch.
    const pids = out.map((p) => parseVp8Descriptor(p.payload)!.pictureId!);
    expect((pids[3]! - pids[2]!) & 0x7fff).toBe(1);
    // The new layer's sender report is handed on in the output's timestamps: f's frame 0 maps to h-based output.
    const last = reports.at(-1)!;
    expect(last.ssrc).toBe(tile.ssrc);
    expect((ts[3]! - last.senderInfo.rtpTimestamp) >>> 0).toBe(5 * 3000);
    tile.close();
    send(2, 7, false);
    expect(out).toHaveLength(5);
  });

  it('moves off a layer the publisher stopped sending to the highest one still sent, and back when it resumes', () => {
    const { published, send, report } = setUp();
    [0, 1, 2].forEach(report);
    [0, 1, 2].forEach((l) => send(l, 0, true));
    // Created before any layer sent: none counted as sent until the first check after their packets.
    expect(published.layersStopped).toEqual([true, true, true]);
    const tile = new TileLayerTrack(published);
    const out: RtpPacket[] = [];
    tile.track.onReceiveRtp.subscribe((p) => out.push(p));
    tile.setTileSize(1280, 720);
    send(2, 1, true);
    expect(tile.layers).toEqual({ current: 2, target: 2 });
    const t0 = performance.now();
    published.checkLayersSending(t0);
    expect(published.layersStopped).toEqual([false, false, false]);
    const changes: string[] = [];
    published.onLayersChanged((why) => changes.push(why));
    // f goes quiet (Chromium's uplink estimate fell) while q and h go on: after LAYER_STOPPED_AFTER_MS without a
    // packet, f counts as stopped and the tile aims at h, taken from h's next keyframe.
    for (let f = 2; f <= 4; f++) [0, 1].forEach((l) => send(l, f, false));
    published.checkLayersSending(t0 + 500);
    expect(published.layersStopped).toEqual([false, false, false]);
    [0, 1].forEach((l) => send(l, 5, false));
    // (+1: t0 + 1000 - t0 is not 1000 for every t0 in floating point.)
    published.checkLayersSending(t0 + LAYER_STOPPED_AFTER_MS + 1);
    expect(published.layersStopped).toEqual([false, false, true]);
    expect(changes).toEqual(['stopped']);
    expect(tile.layers).toEqual({ current: 2, target: 1 });
    expect(plis).toContain('h');
    send(1, 6, true);
    send(1, 7, false);
    expect(tile.layers).toEqual({ current: 1, target: 1 });
    expect(out).toHaveLength(3);
    // f starts again: the tile goes back to it at its keyframe.
    send(2, 8, true);
    published.checkLayersSending(t0 + LAYER_STOPPED_AFTER_MS + 251);
    expect(published.layersStopped).toEqual([false, false, false]);
    expect(changes).toEqual(['stopped', 'resumed']);
    expect(tile.layers.target).toBe(2);
    send(2, 9, true);
    expect(tile.layers).toEqual({ current: 2, target: 2 });
    expect(out).toHaveLength(4);
    const seqs = out.map((p) => p.header.sequenceNumber);
    expect(seqs.slice(1).map((s, i) => (s - seqs[i]!) & 0xffff)).toEqual([1, 1, 1]);
    tile.close();
    published.close();
  });

  it('unsized (a track file): the highest layer sent, up to a top layer that starts late; NACKs of the layer passed on, in the output numbering', () => {
    const { published, send } = setUp();
    [0, 1].forEach((l) => send(l, 0, true));
    const t0 = performance.now();
    published.checkLayersSending(t0);
    expect(published.layersStopped).toEqual([false, false, true]);
    const archive = new TileLayerTrack(published);
    const out: RtpPacket[] = [];
    archive.track.onReceiveRtp.subscribe((p) => out.push(p));
    const nacked: number[][] = [];
    archive.onNack((lost) => nacked.push([...lost]));
    expect(archive.layers.target, 'not the top layer, held back by the publisher').toBe(1);
    [0, 1].forEach((l) => send(l, 1, true));
    expect(archive.layers).toEqual({ current: 1, target: 1 });
    nack('h', [30_001]);
    nack('q', [101]);
    expect(nacked).toEqual([[30_001]]);
    // The top layer starts: the archive moves up at its keyframe, numbering continuous.
    [0, 1, 2].forEach((l) => send(l, 2, l === 2));
    published.checkLayersSending(t0 + 250);
    expect(archive.layers.target).toBe(2);
    // A keyframe asked for while the switch waits (a re-layout, a loss) is the target's, not the layer being left.
    plis = [];
    void archive.requestKeyframe();
    expect(plis).toEqual(['f']);
    [0, 1, 2].forEach((l) => send(l, 3, l === 2));
    expect(archive.layers).toEqual({ current: 2, target: 2 });
    // h's frames 1-3 (its 3rd went by before f's keyframe), then f's frame 3.
    expect(out.map((p) => p.header.sequenceNumber)).toEqual([30_001, 30_002, 30_003, 30_004]);
    nack('f', [65_003]);
    nack('h', [30_003]);
    expect(nacked).toEqual([[30_001], [30_004]]);
    archive.close();
    published.close();
  });

  it('takes the lowest layer for a tile not shown, and the highest before any size is known', () => {
    const { published, send } = setUp();
    const tile = new TileLayerTrack(published);
    expect(tile.layers.target).toBe(2);
    [0, 1, 2].forEach((l) => send(l, 0, true));
    tile.setTileSize(0, 0);
    expect(tile.layers.target).toBe(0);
    tile.close();
  });
});

// H.264 (Chromium 156 / OpenH264, one temporal layer): each layer's keyframe is a STAP-A of SPS and PPS, then the IDR
// in FU-A fragments; deltas are single NAL units. The SPSs are the real ones of an 80x60 / 160x120 / 320x240 camera.
const H264_SPS = [hex('6742c00c8c8d4292f700f08846a0'), hex('6742c00c8c8d41422f2c03c2211a80'), hex('6742c0158c8d40a0f900f08846a0')];
const H264_PPS = hex('68ce3c80');
const stapA = (...nals: Buffer[]) => Buffer.concat([hex('78'), ...nals.flatMap((n) => [Buffer.from([n.length >> 8, n.length & 0xff]), n])]);
/** A keyframe's packets: STAP-A (SPS, PPS), then the IDR's first, middle and last FU-A fragments. */
const h264Keyframe = (layer: number) => [stapA(H264_SPS[layer]!, H264_PPS), hex('7c85aaaa'), hex('7c05bbbb'), hex('7c45cccc')];
const H264_DELTA = hex('419a2438');

function setUpH264() {
  plis = [];
  const remotes = [fakeLayer('q', 11), fakeLayer('h', 22), fakeLayer('f', 33)];
  for (const r of remotes) r.codec = { name: 'h264', clockRate: 90_000, payloadType: 102 };
  const published = new PublishedTrack(remotes, 'camera', 0, new ForwardMeter());
  const seq = [100, 30_000, 65_530];
  const tsBase = [1_000, 2_000_000_000, 4_000_000_000];
  /** Frame `frame` of `layer`: a keyframe's packets (or those from `from` on), or one delta packet. */
  const send = (layer: number, frame: number, key: boolean, from = 0) => {
    const packets = key ? h264Keyframe(layer) : [H264_DELTA];
    packets.forEach((payload, i) => {
      const sequenceNumber = seq[layer]!++ & 0xffff;
      if (i < from) return; // went by before
      const header = new RtpHeader({ ssrc: remotes[layer]!.ssrc, payloadType: 102, sequenceNumber, timestamp: (tsBase[layer]! + frame * 3000) >>> 0, marker: i === packets.length - 1 });
      remotes[layer]!.track.onReceiveRtp.execute(new RtpPacket(header, payload));
    });
  };
  const report = (layer: number) =>
    remotes[layer]!.track.onReceiveRtcp.execute(new RtcpSrPacket({ ssrc: remotes[layer]!.ssrc, senderInfo: new RtcpSenderInfo({ ntpTimestamp: 1n << 40n, rtpTimestamp: tsBase[layer]! }) }));
  return { published, send, report };
}

describe('TileLayerTrack with H.264 layers', () => {
  it('reads the layers\' sizes from their SPS, starts and switches at the packet carrying the SPS (never at an IDR fragment), payloads untouched', () => {
    const { published, send, report } = setUpH264();
    [0, 1, 2].forEach(report);
    [0, 1, 2].forEach((l) => send(l, 0, true));
    expect(published.layerSizes()).toMatchObject([{ width: 80, height: 60 }, { width: 160, height: 120 }, { width: 320, height: 240 }]);
    const tile = new TileLayerTrack(published);
    const out: RtpPacket[] = [];
    tile.track.onReceiveRtp.subscribe((p) => out.push(p));
    tile.setTileSize(SMALL_TILE.width, SMALL_TILE.height);
    expect(tile.layers.target).toBe(1);
    // h's keyframe caught after its SPS went by: its IDR fragments are no place to start.
    send(1, 1, true, 1);
    send(1, 2, false);
    expect(out).toHaveLength(0);
    send(1, 3, true);
    send(1, 4, false);
    expect(out.map((p) => p.payload)).toEqual([...h264Keyframe(1), H264_DELTA]);
    expect(tile.layers.current).toBe(1);
    // Grown: f from the SPS of its next keyframe; the one under way when the switch was decided is not taken.
    tile.setTileSize(320, 240);
    send(2, 5, true, 1);
    send(1, 5, false);
    expect(tile.layers).toEqual({ current: 1, target: 2 });
    send(2, 6, true);
    send(1, 6, false); // h is dropped once f took over
    send(2, 7, false);
    expect(tile.switches).toBe(1);
    expect(out.slice(5).map((p) => p.payload)).toEqual([H264_DELTA, ...h264Keyframe(2), H264_DELTA]);
    // The payloads are the received buffers (nothing to rewrite in H.264); the numbering is continuous.
    expect(out[6]!.payload[0]! & 0x1f).toBe(24);
    const seqs = out.map((p) => p.header.sequenceNumber);
    expect(seqs.slice(1).map((s, i) => (s - seqs[i]!) & 0xffff)).toEqual(seqs.slice(1).map(() => 1));
    tile.close();
  });
});
