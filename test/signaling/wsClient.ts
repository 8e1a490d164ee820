import WebSocket from 'ws';

/** A raw WebSocket test client that records every message it receives and can await the next one of a type. */
export class TestClient {
  readonly messages: any[] = [];
  private waiters: Array<{ pred: (m: any) => boolean; resolve: (m: any) => void }> = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString());
      this.messages.push(msg);
      this.waiters = this.waiters.filter((w) => (w.pred(msg) ? (w.resolve(msg), false) : true));
    });
  }

  static async connect(url: string): Promise<TestClient> {
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new TestClient(ws);
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  /** Resolves with the first message (already received or future) matching `pred`. */
  next(pred: (m: any) => boolean, timeoutMs = 3000): Promise<any> {
    const seen = this.messages.find(pred);
    if (seen) {
      this.messages.splice(this.messages.indexOf(seen), 1);
      return Promise.resolve(seen);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for a message; got ${JSON.stringify(this.messages).slice(0, 500)}`)), timeoutMs);
      this.waiters.push({
        pred,
        resolve: (m) => {
          clearTimeout(timer);
          this.messages.splice(this.messages.indexOf(m), 1);
          resolve(m);
        },
      });
    });
  }

  type(type: string, timeoutMs?: number): Promise<any> {
    return this.next((m) => m.type === type, timeoutMs);
  }

  /** `role` or join options (`{ mode: 'sfu' }`). */
  async join(room: string, name: string, roleOrOptions?: string | Record<string, unknown>): Promise<any> {
    const extra = typeof roleOrOptions === 'string' ? { role: roleOrOptions } : (roleOrOptions ?? {});
    this.send({ type: 'join', room, name, ...extra });
    return this.type('joined');
  }

  close(): void {
    this.ws.close();
  }
}
