/** A simulcast layer's resolution, once a keyframe of it has been seen, and whether its publisher stopped sending it. */
export interface LayerSize {
  width?: number;
  height?: number;
  stopped?: boolean;
}

/** How large a subscriber shows a video: its element's size in device pixels (CSS px × devicePixelRatio). */
export interface TileSize {
  width: number;
  height: number;
}

/**
 * Which of a track's layers (lowest first) to forward to a tile of `tile` size: the smallest layer that covers it,
 * else the highest; the highest too when no size was reported. Tiles show video with `object-fit: contain`, so a
 * layer covers a tile when it fills it in one dimension (width ≥ the tile's or height ≥ the tile's): it is shown at
 * its own size or smaller, never stretched. Layers whose size is not known yet are not candidates, nor are layers the
 * publisher stopped sending (a tile on one would freeze): "the highest" is then the highest still sent. When every
 * layer is stopped (a camera turned off), the choice is as if none were, so that nothing moves until video returns.
 */
export function chooseLayer(layers: readonly LayerSize[], tile: TileSize | undefined): number {
  const sent = sentLayers(layers);
  const highest = atOrBelow(sent, layers.length - 1);
  if (!tile) return highest;
  let best: number | undefined;
  layers.forEach((l, i) => {
    if (!sent[i] || l.width === undefined || l.height === undefined) return;
    if (l.width < tile.width && l.height < tile.height) return;
    const b = best === undefined ? undefined : layers[best]!;
    if (!b || l.width * l.height < b.width! * b.height!) best = i;
  });
  return best ?? highest;
}

/**
 * `layer`, or the highest layer below it the publisher still sends: where a bandwidth cap of `layer` lands when the
 * capped layer stopped. `layer` itself when none below is sent.
 */
export function sentAtOrBelow(layers: readonly LayerSize[], layer: number): number {
  return atOrBelow(sentLayers(layers), layer);
}

/** Per layer, whether it counts as sent: not stopped, or every layer stopped (then all count). */
function sentLayers(layers: readonly LayerSize[]): boolean[] {
  const anySent = layers.some((l) => !l.stopped);
  return layers.map((l) => !anySent || !l.stopped);
}

function atOrBelow(sent: readonly boolean[], layer: number): number {
  for (let i = layer; i >= 0; i--) if (sent[i]) return i;
  return layer;
}
