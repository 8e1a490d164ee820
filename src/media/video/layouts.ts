import type { LayoutInput, LayoutParticipant, TileRect } from './LayoutTypes.js';

/**
 * Pure tile geometry for the composite: which participant goes where. Tiles never overlap, cover at most the canvas
 * and are even-aligned. Pictures are fitted inside their tile keeping aspect ratio (black bars), by the decoders.
 */

const even = (v: number): number => Math.max(0, Math.floor(v / 2) * 2);

/** Columns x rows for n grid tiles: 1x1, 2x1, 2x2, 3x2, 3x3, 4x3, 4x4, 5x4, 5x5. */
export function gridDimensions(n: number): { cols: number; rows: number } {
  if (n <= 0) return { cols: 0, rows: 0 };
  const cols = Math.ceil(Math.sqrt(n));
  return { cols, rows: Math.ceil(n / cols) };
}

/** The `max` most recently active participants, kept in join order (ties keep join order too). */
export function mostRecentlyActive(participants: readonly LayoutParticipant[], max: number): LayoutParticipant[] {
  if (participants.length <= max) return [...participants];
  const ranked = participants
    .map((p, i) => ({ p, i }))
    .sort((a, b) => (b.p.lastActiveMs ?? -Infinity) - (a.p.lastActiveMs ?? -Infinity) || a.i - b.i)
    .slice(0, max);
  return ranked.sort((a, b) => a.i - b.i).map((r) => r.p);
}

interface Area {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Grid cells for n tiles inside `area`; an incomplete last row is centred. */
export function gridCells(n: number, area: Area): Area[] {
  const { cols, rows } = gridDimensions(n);
  const cells: Area[] = [];
  if (n === 0) return cells;
  const cw = even(area.w / cols);
  const ch = even(area.h / rows);
  const y0 = area.y + even((area.h - ch * rows) / 2);
  for (let i = 0; i < n; i++) {
    const row = Math.floor(i / cols);
    const inRow = row === rows - 1 ? n - cols * (rows - 1) : cols;
    const col = i % cols;
    const x0 = area.x + even((area.w - cw * inRow) / 2);
    cells.push({ x: x0 + col * cw, y: y0 + row * ch, w: cw, h: ch });
  }
  return cells;
}

function camera(p: LayoutParticipant, role: TileRect['role'], a: Area): TileRect {
  return { key: p.id, participantId: p.id, kind: 'camera', role, ...a };
}

/** Tile rectangles for the given state. */
export function computeLayout(input: LayoutInput): TileRect[] {
  const { width, height, participants } = input;
  const canvas: Area = { x: 0, y: 0, w: even(width), h: even(height) };
  const sharer = input.screenShareOf !== undefined ? participants.find((p) => p.id === input.screenShareOf) : undefined;

  if (input.mode === 'grid' && !sharer) {
    const shown = mostRecentlyActive(participants, input.maxGridTiles ?? 25);
    return gridCells(shown.length, canvas).map((cell, i) => camera(shown[i]!, 'grid', cell));
  }

  // Featured layout: one large tile (the screen share, else the active speaker) above a strip of the others.
  if (participants.length === 0) return [];
  let main: TileRect;
  let others: LayoutParticipant[];
  const stripH = even(height / 5);
  const hasOthers = sharer ? participants.length > 0 : participants.length > 1;
  const mainArea: Area = hasOthers ? { x: 0, y: 0, w: canvas.w, h: canvas.h - stripH } : canvas;
  if (sharer) {
    main = { key: `${sharer.id}#screen`, participantId: sharer.id, kind: 'screen', role: 'main', ...mainArea };
    others = [...participants];
  } else {
    const speaker =
      participants.find((p) => p.id === input.activeSpeakerId) ??
      [...participants].sort((a, b) => (b.lastActiveMs ?? -Infinity) - (a.lastActiveMs ?? -Infinity))[0]!;
    main = camera(speaker, 'main', mainArea);
    others = participants.filter((p) => p !== speaker);
  }
  if (others.length === 0) return [main];
  const tileW = even((stripH * 16) / 9);
  const fit = Math.max(1, Math.floor(canvas.w / Math.max(2, tileW)));
  const shown = mostRecentlyActive(others, Math.min(fit, input.maxStripTiles ?? fit));
  const stripW = tileW * shown.length;
  const x0 = even((canvas.w - stripW) / 2);
  const strip = shown.map((p, i) => camera(p, 'strip', { x: x0 + i * tileW, y: canvas.h - stripH, w: tileW, h: stripH }));
  return [main, ...strip];
}
