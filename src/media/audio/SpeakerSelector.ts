export interface SpeakerSelectorOptions {
  /** Voices mixed at most. */
  maxSpeakers: number;
  /** A selected voice stays at least this long (ms) before it can be displaced or dropped for silence. */
  holdMs: number;
  /** A newcomer must be this much louder (dB) than the quietest displaceable selected voice to take its place. */
  displaceMarginDb: number;
  /** Voices below this level (dBFS) are never selected, and selected ones below it leave once their hold is over. */
  silenceDb: number;
}

/**
 * How the room's voices are ranked unless configured otherwise. Shared by the recording's mix and the live MCU mix so
 * both pick the same voices at the same moments.
 */
export const SPEAKER_RANKING_DEFAULTS = { holdMs: 1500, displaceMarginDb: 6, silenceDb: -50 } as const satisfies Omit<
  SpeakerSelectorOptions,
  'maxSpeakers'
>;

export interface VoiceLevel {
  id: string;
  levelDb: number;
}

interface Member {
  id: string;
  levelDb: number;
  sinceMs: number;
}

/**
 * Picks the N loudest voices with hysteresis, so the mix does not flap between voices of similar loudness:
 * - a free slot goes to the loudest non-silent newcomer right away;
 * - a full set only changes when a newcomer beats the quietest member whose hold has expired by `displaceMarginDb`;
 * - a member that fell silent leaves once its hold has expired (so nobody talking gives an empty set).
 */
export class SpeakerSelector {
  private members: Member[] = [];

  constructor(private readonly opts: SpeakerSelectorOptions) {}

  /** Currently selected ids, loudest first (as of the last update). */
  get selected(): string[] {
    return this.members.map((m) => m.id);
  }

  /** Feeds the levels at `nowMs` (voices absent from `voices` are gone); returns the selection, loudest first. */
  update(nowMs: number, voices: readonly VoiceLevel[]): string[] {
    const { maxSpeakers, holdMs, displaceMarginDb, silenceDb } = this.opts;
    const level = new Map<string, number>();
    for (const v of voices) level.set(v.id, v.levelDb);
    const held = (m: Member): boolean => nowMs - m.sinceMs < holdMs;

    this.members = this.members.filter((m) => {
      const l = level.get(m.id);
      if (l === undefined) return false;
      m.levelDb = l;
      return l >= silenceDb || held(m);
    });

    const candidates = voices
      .filter((v) => v.levelDb >= silenceDb && !this.members.some((m) => m.id === v.id))
      .sort((a, b) => b.levelDb - a.levelDb);
    for (const c of candidates) {
      if (this.members.length < maxSpeakers) {
        this.members.push({ id: c.id, levelDb: c.levelDb, sinceMs: nowMs });
        continue;
      }
      let victim = -1;
      for (let i = 0; i < this.members.length; i++) {
        const m = this.members[i]!;
        if (!held(m) && (victim < 0 || m.levelDb < this.members[victim]!.levelDb)) victim = i;
      }
      // Candidates are loudest first: if this one cannot displace anybody, the quieter ones cannot either.
      if (victim < 0 || c.levelDb < this.members[victim]!.levelDb + displaceMarginDb) break;
      this.members[victim] = { id: c.id, levelDb: c.levelDb, sinceMs: nowMs };
    }

    this.members.sort((a, b) => b.levelDb - a.levelDb);
    return this.selected;
  }
}
