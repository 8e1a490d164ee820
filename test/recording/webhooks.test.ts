// Webhook delivery to a local receiver: signed, in order, retried with backoff, never blocking the caller.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { signBody, SIGNATURE_HEADER, WebhookNotifier, type WebhookEvent } from '../../src/recording/webhooks.js';
import { waitFor } from '../harness/util.js';
import { quietLogger } from './fakes.js';

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
  at: number;
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A receiver answering each request with the next status of `statuses` (then 204); `hang` never answers. */
async function receiver(statuses: Array<number | 'hang'> = []): Promise<{ url: string; received: Received[]; server: Server }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push({ headers: req.headers, body, at: Date.now() });
      const status = statuses.shift() ?? 204;
      if (status !== 'hang') res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => (server.closeAllConnections(), server.close(r))));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received, server };
}

function notifier(url: string, extra: Partial<ConstructorParameters<typeof WebhookNotifier>[0]> = {}): WebhookNotifier {
  const n = new WebhookNotifier({ url, logger: quietLogger, baseDelayMs: 100, ...extra });
  cleanups.push(() => n.close(0));
  return n;
}

describe('WebhookNotifier', () => {
  it('POSTs JSON events with an HMAC signature; retries a failed delivery with backoff, keeping the order', async () => {
    const hook = await receiver([500, 503]);
    const n = notifier(hook.url, { secret: 's3cret' });
    const attempts: number[] = [];
    n.on('delivered', (_e, a) => attempts.push(a));
    n.send('recording.started', { id: 'r1', room: 'demo' });
    n.send('participant.joined', { room: 'demo', participant: { id: 'p1', name: 'Alice' } });
    await waitFor(() => attempts.length === 2, { timeoutMs: 5000 });
    expect(attempts).toEqual([3, 1]);
    expect(hook.received).toHaveLength(4);
    const events = hook.received.map((r) => JSON.parse(r.body) as WebhookEvent);
    // The same event (same id) three times, then the next one.
    expect(events.map((e) => e.type)).toEqual(['recording.started', 'recording.started', 'recording.started', 'participant.joined']);
    expect(new Set(events.slice(0, 3).map((e) => e.id)).size).toBe(1);
    expect(events[0]).toMatchObject({ type: 'recording.started', data: { id: 'r1', room: 'demo' }, time: expect.any(String) });
    // Backoff: 100 ms, then 200 ms.
    const gaps = [hook.received[1]!.at - hook.received[0]!.at, hook.received[2]!.at - hook.received[1]!.at];
    expect(gaps[0]).toBeGreaterThanOrEqual(90);
    expect(gaps[1]).toBeGreaterThanOrEqual(190);
    for (const r of hook.received) {
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.headers[SIGNATURE_HEADER]).toBe(signBody('s3cret', r.body));
      expect(r.headers['x-rtc-record-event']).toBe(JSON.parse(r.body).type);
    }
  });

  it('no secret: no signature header', async () => {
    const hook = await receiver();
    const n = notifier(hook.url);
    n.send('participant.left', { room: 'demo' });
    await waitFor(() => hook.received.length === 1);
    expect(hook.received[0]!.headers[SIGNATURE_HEADER]).toBeUndefined();
  });

  it('never blocks the caller: a hanging receiver times out, and is given up after maxAttempts', async () => {
    const hook = await receiver(['hang', 'hang']);
    const n = notifier(hook.url, { timeoutMs: 200, maxAttempts: 2 });
    const dropped: string[] = [];
    n.on('dropped', (e, reason) => dropped.push(`${e.type}: ${reason}`));
    const t0 = performance.now();
    for (let i = 0; i < 100; i++) n.send('participant.joined', { i });
    expect(performance.now() - t0).toBeLessThan(50);
    await waitFor(() => dropped.length >= 1, { timeoutMs: 5000 });
    expect(dropped[0]).toBe('participant.joined: retries exhausted');
    // The next events still go out.
    await waitFor(() => hook.received.length >= 3, { timeoutMs: 5000 });
  });

  it('a receiver that is down: connection errors are retried, and a bounded queue drops the oldest', async () => {
    const hook = await receiver();
    const url = hook.url;
    await new Promise((r) => hook.server.close(r)); // nothing listens there now
    const n = notifier(url, { maxQueue: 3, maxAttempts: 2, baseDelayMs: 50 });
    const failures: string[] = [];
    const dropped: string[] = [];
    n.on('attemptFailed', (_e, _a, reason) => failures.push(reason));
    n.on('dropped', (e, reason) => dropped.push(`${(e.data as { i: number }).i} ${reason}`));
    for (let i = 0; i < 5; i++) n.send('participant.joined', { i });
    expect(n.pending).toBe(3);
    await waitFor(() => failures.length >= 1, { timeoutMs: 5000 });
    expect(failures[0]).toMatch(/ECONNREFUSED|fetch failed/);
    // 0 is in flight when 3 and 4 arrive: 1 and 2 are dropped to make room.
    expect(dropped.slice(0, 2)).toEqual(['1 queue full', '2 queue full']);
  });
});
