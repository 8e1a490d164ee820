// The Node signaling client delivers messages that arrive in the same network read as `joined` to listeners attached
// right after join() resolves (an offer from a participant already in the room must not be lost).
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { SignalingClient } from '../../src/signaling/SignalingClient.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

describe('SignalingClient', () => {
  it('does not lose an offer sent right behind `joined`', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    cleanups.push(() => wss.close());
    wss.on('connection', (ws) => {
      ws.on('message', () => {
        // Two frames in one write: the client parses both in the same tick.
        ws.send(JSON.stringify({ type: 'joined', id: 'me', room: 'r', peers: [{ id: 'p1', name: 'A', role: 'participant' }], iceServers: [] }));
        ws.send(JSON.stringify({ type: 'createOffer', from: 'p1', session: 's1', sdp: { type: 'offer', sdp: 'v=0' } }));
        ws.send(JSON.stringify({ type: 'peerLeft', id: 'p1' }));
      });
    });
    await new Promise((r) => wss.once('listening', r));
    const client = await SignalingClient.connect(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
    cleanups.push(() => client.close());
    await client.join('r', 'recorder', 'recorder');
    const seen: string[] = [];
    client.on('offer', (from, session) => seen.push(`offer ${from} ${session}`));
    client.on('peerLeft', (id) => seen.push(`left ${id}`));
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).toEqual(['offer p1 s1', 'left p1']);
  });
});
