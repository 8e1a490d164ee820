// Where a join's time goes: the room page's signaling and connection events (an init script that wraps WebSocket and
// RTCPeerConnection, so the page itself is unchanged) and the server's debug log lines, on one clock (Date.now()).
import type { Page } from 'playwright-core';

export interface PageMark {
  ev: string;
  t: number;
  pc?: number;
  session?: string;
}

/** Installs the wrappers before the page's own script runs; read the marks with pageMarks. */
export async function instrumentJoin(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const marks: PageMark[] = [];
    (window as unknown as { __joinMarks: PageMark[] }).__joinMarks = marks;
    const mark = (ev: string, extra: Partial<PageMark> = {}) => marks.push({ ev, t: Date.now(), ...extra });
    const NativeWs = window.WebSocket;
    window.WebSocket = class extends NativeWs {
      constructor(url: string | URL, protocols?: string | string[]) {
        super(url, protocols);
        this.addEventListener('open', () => mark('ws open'));
        this.addEventListener('message', (e) => {
          const m = JSON.parse(String(e.data)) as { type: string; session?: string };
          mark(`in ${m.type}`, { session: m.session });
        });
      }
      override send(data: string): void {
        const m = JSON.parse(data) as { type: string; session?: string };
        mark(`out ${m.type}`, { session: m.session });
        super.send(data);
      }
    } as typeof WebSocket;
    // Main-thread stalls (≥ 50 ms): what delays the page's own steps.
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) marks.push({ ev: `longtask ${Math.round(e.duration)}ms`, t: Math.round(performance.timeOrigin + e.startTime) });
    }).observe({ type: 'longtask', buffered: true });
    const NativePc = window.RTCPeerConnection;
    // How long each negotiation call takes, by its end.
    for (const name of ['createOffer', 'createAnswer', 'setLocalDescription', 'setRemoteDescription'] as const) {
      const native = NativePc.prototype[name] as (...a: unknown[]) => Promise<unknown>;
      (NativePc.prototype as unknown as Record<string, unknown>)[name] = async function (this: RTCPeerConnection & { __pc?: number }, ...a: unknown[]) {
        const t = Date.now();
        try {
          return await native.apply(this, a);
        } finally {
          mark(`${name} ${Date.now() - t}ms`, { pc: this.__pc });
        }
      };
    }
    let pcs = 0;
    window.RTCPeerConnection = class extends NativePc {
      constructor(config?: RTCConfiguration) {
        super(config);
        const pc = ++pcs;
        (this as unknown as { __pc: number }).__pc = pc;
        mark('pc new', { pc });
        this.addEventListener('icegatheringstatechange', () => mark(`gathering ${this.iceGatheringState}`, { pc }));
        this.addEventListener('iceconnectionstatechange', () => mark(`ice ${this.iceConnectionState}`, { pc }));
        this.addEventListener('connectionstatechange', () => mark(`conn ${this.connectionState}`, { pc }));
        this.addEventListener('track', (e) => {
          mark(`track ${e.track.kind}`, { pc });
          if (e.track.kind !== 'video') return;
          // The first frame presented: decoded and handed to a video element of its own (muted, not in the DOM).
          const v = document.createElement('video');
          v.muted = true;
          v.srcObject = new MediaStream([e.track]);
          v.requestVideoFrameCallback(() => mark('first frame', { pc }));
          void v.play().catch(() => {});
        });
      }
    } as typeof RTCPeerConnection;
  });
}

export function pageMarks(page: Page): Promise<PageMark[]> {
  return page.evaluate(() => (window as unknown as { __joinMarks: PageMark[] }).__joinMarks);
}

export interface LogLine {
  time: number;
  msg: string;
  [k: string]: unknown;
}

/** The server's JSON log lines (pino), skipping anything else. */
export function logLines(stderr: string[]): LogLine[] {
  const out: LogLine[] = [];
  for (const l of stderr) {
    if (!l.startsWith('{')) continue;
    try {
      out.push(JSON.parse(l) as LogLine);
    } catch {
      /* not a log line */
    }
  }
  return out;
}

/**
 * Starts the page's JavaScript CPU profiler; the returned function stops it after `ms` and summarizes it: the busiest
 * functions by self and by total time (what a long task of the page's was doing).
 */
export async function profilePage(page: Page): Promise<(ms: number) => Promise<string>> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
  await cdp.send('Profiler.start');
  return async (ms) => {
    await new Promise((r) => setTimeout(r, ms));
    const { profile } = await cdp.send('Profiler.stop');
    await cdp.detach();
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const key = (id: number) => {
      const f = byId.get(id)!.callFrame;
      return `${f.functionName || '(anonymous)'} ${f.url.split('/').pop()}:${f.lineNumber + 1}`;
    };
    const perNode = new Map<number, number>();
    profile.samples!.forEach((id, i) => perNode.set(id, (perNode.get(id) ?? 0) + profile.timeDeltas![i]!));
    const self = new Map<string, number>();
    const total = new Map<string, number>();
    for (const [id, us] of perNode) {
      self.set(key(id), (self.get(key(id)) ?? 0) + us);
      const seen = new Set<string>();
      for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
        if (!seen.has(key(n))) total.set(key(n), (total.get(key(n)) ?? 0) + us);
        seen.add(key(n));
      }
    }
    const top = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, 25).map(([k, us]) => `${(us / 1000).toFixed(1).padStart(7)} ms  ${k}`).join('\n');
    return `page profile, self time\n${top(self)}\ntotal time\n${top(total)}`;
  };
}
