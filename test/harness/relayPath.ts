/**
 * Puts an ImpairmentRelay between a synthetic participant and the recorder: the participant's offer and the recorder's
 * answer are rewritten so each side's one loopback candidate is the relay's port. Both ends then only ever see the
 * relay (no peer-reflexive shortcut around it), and the relay forwards to the real ports it read from the SDPs.
 */
import { ImpairmentRelay, type RelayOptions } from './impairmentRelay.js';

const CANDIDATE = /^(a=candidate:\S+ \d+ udp \d+ 127\.0\.0\.1 )(\d+)( typ host.*)$/gim;

/** The single loopback UDP port the SDP's candidates name (BUNDLE: one transport). */
export function loopbackCandidatePort(sdp: string): number {
  const ports = new Set([...sdp.matchAll(CANDIDATE)].map((m) => Number(m[2])));
  if (ports.size !== 1) throw new Error(`expected one loopback UDP candidate port, found ${[...ports].join(', ') || 'none'}`);
  return [...ports][0]!;
}

/** The SDP with every loopback candidate's port replaced. */
export function withCandidatePort(sdp: string, port: number): string {
  return sdp.replace(CANDIDATE, (_m, head: string, _old: string, tail: string) => `${head}${port}${tail}`);
}

export class RelayPath {
  relay?: ImpairmentRelay;

  constructor(private readonly opts: Omit<RelayOptions, 'upstreamPort' | 'clientPort'>) {}

  /** For SyntheticParticipant's rewriteOffer: starts the relay facing the participant's real port. */
  readonly rewriteOffer = async (sdp: string): Promise<string> => {
    const clientPort = loopbackCandidatePort(sdp);
    this.relay = await ImpairmentRelay.start({ ...this.opts, clientPort });
    return withCandidatePort(sdp, this.relay.port);
  };

  /** For SyntheticParticipant's rewriteAnswer: the relay forwards to the recorder's real port. */
  readonly rewriteAnswer = (sdp: string): string => {
    if (!this.relay) throw new Error('answer before offer');
    this.relay.setUpstream(loopbackCandidatePort(sdp));
    return withCandidatePort(sdp, this.relay.port);
  };

  async close(): Promise<void> {
    await this.relay?.close();
  }
}
