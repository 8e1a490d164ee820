/** Whole milliseconds from `from` to `to` (performance.now() times; `to` defaults to now), for timing logs. */
export function elapsedMs(from: number, to = performance.now()): number {
  return Math.round(to - from);
}
