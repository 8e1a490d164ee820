import { createHmac, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { RtcRecordError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Manifest } from './ManifestTypes.js';
import type { RecordingService } from './RecordingService.js';

// Outgoing webhooks: events are queued synchronously and delivered by a background loop, so a slow or dead receiver
// never blocks recording (nor the event loop beyond a JSON.stringify). Deliveries are in order, retried with
// exponential backoff, and dropped (oldest first) when the queue overflows.

export type WebhookEventType =
  | 'recording.started'
  | 'recording.finished'
  | 'recording.failed'
  | 'recording.uploaded'
  | 'recording.upload_failed'
  | 'participant.joined'
  | 'participant.left';

export interface WebhookEvent {
  /** Unique per event; the same on every retry, so receivers can de-duplicate. */
  id: string;
  type: WebhookEventType;
  /** ISO time the event happened. */
  time: string;
  data: Record<string, unknown>;
}

export interface WebhookOptions {
  url: string;
  /** HMAC-SHA256 key: when set, every request carries `X-RtcRecord-Signature: sha256=<hex of HMAC(body)>`. */
  secret?: string;
  /** Attempts per event (default 6: 1 + 5 retries). */
  maxAttempts?: number;
  /** First retry delay, doubled each time up to maxDelayMs (defaults 500 ms, 30 s). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Per-request timeout (default 5 s). */
  timeoutMs?: number;
  /** Events held at most while the receiver is down (default 1000). */
  maxQueue?: number;
  logger: Logger;
}

export interface WebhookNotifierEvents {
  delivered: [event: WebhookEvent, attempts: number];
  /** Given up after maxAttempts, or dropped from a full queue. */
  dropped: [event: WebhookEvent, reason: string];
  attemptFailed: [event: WebhookEvent, attempt: number, reason: string];
}

export const SIGNATURE_HEADER = 'x-rtc-record-signature';

export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export function parseWebhookUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new RtcRecordError('BAD_REQUEST', `--webhook must be an http(s) URL, got ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RtcRecordError('BAD_REQUEST', '--webhook must be an http(s) URL');
  return url.toString();
}

export class WebhookNotifier extends EventEmitter<WebhookNotifierEvents> {
  private readonly queue: WebhookEvent[] = [];
  private running = false;
  private closed = false;
  /** Ends the current backoff pause early (on close). */
  private interrupt?: () => void;
  private readonly inFlight = new Set<AbortController>();

  constructor(private readonly options: WebhookOptions) {
    super();
    parseWebhookUrl(options.url);
  }

  /** Subscribes to a service's recording and participant events. */
  attach(service: RecordingService): void {
    service.on('recordingStarted', (e) => this.send('recording.started', { ...e }));
    service.on('recordingFinished', (m) => this.send('recording.finished', manifestData(m)));
    service.on('recordingFailed', (e) => this.send('recording.failed', { ...e }));
    service.on('participantJoined', (e) => this.send('participant.joined', participantData(e)));
    service.on('participantLeft', (e) => this.send('participant.left', participantData(e)));
    // With --s3: where the files went (or why they did not; the local copy is kept then).
    service.uploads?.on('uploaded', (id, o) => this.send('recording.uploaded', { id, bucket: o.bucket, attempt: o.attempt, localDeleted: o.localDeleted, objects: o.objects }));
    service.uploads?.on('uploadFailed', (id, o) => this.send('recording.upload_failed', { id, bucket: o.bucket, attempt: o.attempt, code: o.error?.code, error: o.error?.message }));
  }

  /** Queues an event; never throws, never waits. */
  send(type: WebhookEventType, data: Record<string, unknown>): void {
    if (this.closed) return;
    const max = this.options.maxQueue ?? 1000;
    while (this.queue.length >= max) {
      // The head may be in flight: drop the oldest one not yet being delivered.
      const dropped = this.queue.splice(this.running && this.queue.length > 1 ? 1 : 0, 1)[0]!;
      this.options.logger.warn({ event: dropped.type, id: dropped.id }, 'webhook queue full; dropping the oldest event');
      this.emit('dropped', dropped, 'queue full');
    }
    this.queue.push({ id: randomUUID(), type, time: new Date().toISOString(), data });
    if (!this.running) void this.run();
  }

  /** Delivers what is queued (waiting at most `timeoutMs`), then stops. */
  async close(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((this.queue.length || this.running) && Date.now() < deadline) await sleep(50);
    this.closed = true;
    this.queue.length = 0;
    for (const c of this.inFlight) c.abort();
    this.interrupt?.();
  }

  get pending(): number {
    return this.queue.length;
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (!this.closed && this.queue.length) {
        const event = this.queue[0]!;
        await this.deliver(event);
        if (this.queue[0] === event) this.queue.shift();
      }
    } finally {
      this.running = false;
    }
  }

  private async deliver(event: WebhookEvent): Promise<void> {
    const { maxAttempts = 6, baseDelayMs = 500, maxDelayMs = 30_000 } = this.options;
    const body = JSON.stringify(event);
    for (let attempt = 1; attempt <= maxAttempts && !this.closed; attempt++) {
      const reason = await this.post(event, body);
      if (reason === undefined) {
        this.emit('delivered', event, attempt);
        return;
      }
      this.options.logger.warn({ event: event.type, attempt, reason }, 'webhook delivery failed');
      this.emit('attemptFailed', event, attempt, reason);
      if (attempt < maxAttempts) await this.pause(Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1)));
    }
    if (!this.closed) {
      this.options.logger.error({ event: event.type, id: event.id }, 'webhook given up');
      this.emit('dropped', event, 'retries exhausted');
    }
  }

  /** undefined on a 2xx answer, else why not. */
  private async post(event: WebhookEvent, body: string): Promise<string | undefined> {
    const controller = new AbortController();
    this.inFlight.add(controller);
    const timer = setTimeout(() => controller.abort(), this.options.timeoutMs ?? 5000);
    try {
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'user-agent': 'rtc-record',
        'x-rtc-record-event': event.type,
        'x-rtc-record-delivery': event.id,
      };
      if (this.options.secret) headers[SIGNATURE_HEADER] = signBody(this.options.secret, body);
      const res = await fetch(this.options.url, { method: 'POST', headers, body, signal: controller.signal, redirect: 'manual' });
      await res.arrayBuffer().catch(() => undefined);
      return res.ok ? undefined : `HTTP ${res.status}`;
    } catch (err) {
      return controller.signal.aborted ? 'timeout' : ((err as Error).cause as Error | undefined)?.message ?? (err as Error).message;
    } finally {
      clearTimeout(timer);
      this.inFlight.delete(controller);
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.interrupt = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.interrupt = done;
    });
  }
}

function manifestData(m: Manifest): Record<string, unknown> {
  const durationMs = m.stoppedAt ? Date.parse(m.stoppedAt) - Date.parse(m.startedAt) : undefined;
  return {
    id: m.id,
    room: m.room,
    state: m.state,
    startedAt: m.startedAt,
    stoppedAt: m.stoppedAt,
    durationMs,
    participants: [...new Set(m.participants.map((p) => p.name))],
    tracks: m.tracks.map((t) => ({ file: t.file, kind: t.kind, participant: t.participantName })),
    ...(m.composite ? { composite: { file: m.composite.file, state: m.composite.state } } : {}),
    ...(m.error ? { error: m.error } : {}),
  };
}

function participantData(e: { room: string; peer: { id: string; name: string }; recordingId?: string }): Record<string, unknown> {
  return { room: e.room, participant: { id: e.peer.id, name: e.peer.name }, ...(e.recordingId ? { recordingId: e.recordingId } : {}) };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
