/** A simulcast layer's resolution, once a keyframe of it has been seen. */
export interface LayerSize {
  width?: number;
  height?: number;
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
 * its own size or smaller, never stretched. Layers whose size is not known yet are not candidates.
 */
export function chooseLayer(layers: readonly LayerSize[], tile: TileSize | undefined): number {
  const highest = layers.length - 1;
  if (!tile) return highest;
  let best: number | undefined;
  layers.forEach((l, i) => {
    if (l.width === undefined || l.height === undefined) return;
    if (l.width < tile.width && l.height < tile.height) return;
    const b = best === undefined ? undefined : layers[best]!;
    if (!b || l.width * l.height < b.width! * b.height!) best = i;
  });
  return best ?? highest;
}
