/**
 * Puts an ImpairmentRelay between a Chromium page and the server on the connection the page receives media on (the
 * one the server offers: an SFU's subscriber PC). A script injected before the page's own rewrites, inside the page,
 * every loopback UDP candidate port of that connection to the relay's: the server's offer and candidates as the page
 * applies them, and the page's answer and candidates as it sends them. Both ends then only ever see the relay, and the
 * relay learns the server's real port from the page (the client's from its first datagram). The page's sending
 * connection (it makes the offer) is left alone.
 */
import type { Page } from 'playwright-core';
import { ImpairmentRelay, type Impairment } from './impairmentRelay.js';

export class PageRelay {
  private constructor(
    readonly relay: ImpairmentRelay,
    /** The server → page impairment, changed in place by `setToPage`. */
    private readonly toPage: Impairment,
  ) {}

  /** Call before the page loads the room. `toPage` impairs server → page media (e.g. a rate cap). */
  static async attach(page: Page, toPage: Impairment, seed = 1): Promise<PageRelay> {
    const impairment = { ...toPage };
    const relay = await ImpairmentRelay.start({ toClient: impairment, seed, keepDelays: false });
    await page.exposeFunction('__relayUpstream', (port: number) => relay.setUpstream(port));
    await page.addInitScript(injected, relay.port);
    return new PageRelay(relay, impairment);
  }

  /** Replaces the server → page impairment from now on (e.g. lifts a rate cap: `{}`). */
  setToPage(impairment: Impairment): void {
    for (const key of Object.keys(this.toPage)) delete this.toPage[key as keyof Impairment];
    Object.assign(this.toPage, impairment);
  }

  close(): Promise<void> {
    return this.relay.close();
  }
}

/** Runs in the page (serialized by Playwright): no closure over anything outside. */
function injected(relayPort: number): void {
  const CANDIDATE = /^((?:a=)?candidate:\S+ \d+ udp \d+ 127\.0\.0\.1 )(\d+)( typ host.*)$/gim;
  const w = window as unknown as { __relayUpstream(port: number): Promise<void> };
  const relayed = new WeakSet<RTCPeerConnection>();
  // The server's first offer has a transport per media section until BUNDLE is accepted; the first section's carries
  // everything after: its port (the first candidate seen) is the one to relay to.
  let learnt = false;
  const rewrite = (text: string, learn: boolean): string =>
    text.replace(CANDIDATE, (_m, head: string, port: string, tail: string) => {
      if (learn && !learnt) {
        learnt = true;
        void w.__relayUpstream(Number(port));
      }
      return `${head}${relayPort}${tail}`;
    });
  const proto = RTCPeerConnection.prototype;
  const setRemote = proto.setRemoteDescription;
  proto.setRemoteDescription = function (this: RTCPeerConnection, desc?: RTCSessionDescriptionInit) {
    if (desc?.type === 'offer') relayed.add(this);
    const out = relayed.has(this) && desc?.sdp ? { type: desc.type, sdp: rewrite(desc.sdp, true) } : desc;
    return (setRemote as (d?: RTCSessionDescriptionInit) => Promise<void>).call(this, out);
  } as typeof proto.setRemoteDescription;
  const addCandidate = proto.addIceCandidate;
  proto.addIceCandidate = function (this: RTCPeerConnection, c?: RTCIceCandidateInit | null) {
    const out = relayed.has(this) && c?.candidate ? { ...c, candidate: rewrite(c.candidate, !c.sdpMLineIndex) } : c;
    return (addCandidate as (c?: RTCIceCandidateInit | null) => Promise<void>).call(this, out);
  } as typeof proto.addIceCandidate;
  // The page's own candidates, as it reads them in its onicecandidate handler.
  const handler = Object.getOwnPropertyDescriptor(proto, 'onicecandidate')!;
  Object.defineProperty(proto, 'onicecandidate', {
    ...handler,
    set(this: RTCPeerConnection, fn: ((e: RTCPeerConnectionIceEvent) => void) | null) {
      const pc = this;
      handler.set!.call(this, (e: RTCPeerConnectionIceEvent) => {
        if (!fn) return;
        const cand = e.candidate;
        if (!cand || !relayed.has(pc)) return fn(e);
        const json = { ...cand.toJSON(), candidate: rewrite(cand.candidate, false) };
        fn({ candidate: { ...json, toJSON: () => json } } as unknown as RTCPeerConnectionIceEvent);
      });
    },
  });
  // The answer the page sends (its candidates, if it waited for any).
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (this: WebSocket, data: Parameters<WebSocket['send']>[0]) {
    if (typeof data === 'string' && data.includes('"createAnswer"')) {
      const msg = JSON.parse(data) as { type: string; sdp?: { sdp: string } };
      if (msg.type === 'createAnswer' && msg.sdp) msg.sdp.sdp = rewrite(msg.sdp.sdp, false);
      data = JSON.stringify(msg);
    }
    return send.call(this, data);
  };
}
