import { describe, expect, it } from 'vitest';
import { PacketBytes, type PacketSlot } from '../../../src/media/audio/PacketBytes.js';

const packet = (seq: number, length: number) => Uint8Array.from({ length }, (_, i) => (seq * 31 + i) & 0xff);

describe('PacketBytes', () => {
  it('keeps every live packet intact across compactions and growth, dropping only consumed ones', () => {
    const bytes = new PacketBytes(256);
    const live: Array<PacketSlot & { seq: number }> = [];
    let seq = 0;
    for (let round = 0; round < 200; round++) {
      // Out-of-order arrival: insert sorted by seq like the timeline queue, sizes 1…120 bytes.
      const s = seq++;
      const data = packet(s, 1 + ((s * 37) % 120));
      const offset = bytes.add(data, live);
      const slot = { seq: s, offset, length: data.length };
      live.splice(Math.max(0, live.length - (s % 3)), 0, slot);
      // Consume from the front now and then; at times hold a burst (forces growth past the initial size).
      if (round % 3 === 0 && !(round > 60 && round < 90)) live.shift();
      for (const l of live) expect([...bytes.view(l)]).toEqual([...packet(l.seq, l.length)]);
    }
    expect(live.length).toBeGreaterThan(40);
  });

  it('copies: changing the caller\'s buffer afterwards does not change the stored packet', () => {
    const bytes = new PacketBytes(64);
    const data = Uint8Array.of(1, 2, 3);
    const slot = { offset: bytes.add(data, []), length: 3 };
    data.fill(9);
    expect([...bytes.view(slot)]).toEqual([1, 2, 3]);
  });
});
