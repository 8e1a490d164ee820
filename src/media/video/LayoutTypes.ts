export type LayoutMode = 'grid' | 'speaker';

export interface LayoutParticipant {
  id: string;
  name: string;
  /** Wall-clock ms of the last time this participant's voice was above the silence threshold (for "most recent"). */
  lastActiveMs?: number;
}

export interface LayoutInput {
  width: number;
  height: number;
  mode: LayoutMode;
  /** In join order (the grid fills left→right, top→bottom in this order). */
  participants: readonly LayoutParticipant[];
  /** Speaker layout: who gets the large tile (default: the most recently active, else the first). */
  activeSpeakerId?: string;
  /** A participant sharing their screen: the share is featured (large) in both modes. */
  screenShareOf?: string;
  /** Grid tiles at most (default 25 = 5x5); past that the most recently active participants are shown. */
  maxGridTiles?: number;
  /** Speaker layout strip tiles at most (default: as many as fit the width). */
  maxStripTiles?: number;
}

export type TileKind = 'camera' | 'screen';

/** One rectangle of the canvas; x, y, w, h are even (yuv420p). */
export interface TileRect {
  /** `participantId` for cameras, `participantId#screen` for a screen share. */
  key: string;
  participantId: string;
  kind: TileKind;
  role: 'grid' | 'main' | 'strip';
  x: number;
  y: number;
  w: number;
  h: number;
}
