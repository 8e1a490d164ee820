import { launchParticipant, type Participant } from './browser.js';
import { audioFixture, videoFixture } from './fixtures.js';

export interface RoomParticipantOptions {
  /** Solid camera colour. */
  color: string;
  /** Microphone tone (speech-like bursts), Hz. */
  freq: number;
  /** Extra query string for the room page, starting with `&` (e.g. `&relay=1`). */
  query?: string;
}

/** A Chromium participant that opens our room page and joins `room` at once, with a coloured camera and a tone. */
export async function roomParticipant(baseUrl: string, room: string, name: string, o: RoomParticipantOptions): Promise<Participant> {
  return launchParticipant({
    name,
    video: await videoFixture({ kind: 'color', color: o.color }),
    audio: await audioFixture({ freq: o.freq, seconds: 4 }),
    url: `${baseUrl}/room/${room}?name=${name}&autojoin=1${o.query ?? ''}`,
  });
}

/**
 * The same participant, launched before its server is known: the browser starts (seconds on a loaded machine) while
 * the server does; `open` then opens the room page, which joins at once, exactly as roomParticipant's.
 */
export async function launchRoomParticipant(name: string, o: RoomParticipantOptions): Promise<{ participant: Participant; open(baseUrl: string, room: string): Promise<Participant> }> {
  const participant = await launchParticipant({
    name,
    video: await videoFixture({ kind: 'color', color: o.color }),
    audio: await audioFixture({ freq: o.freq, seconds: 4 }),
  });
  return {
    participant,
    open: async (baseUrl, room) => {
      await participant.page.goto(`${baseUrl}/room/${room}?name=${name}&autojoin=1${o.query ?? ''}`);
      return participant;
    },
  };
}
