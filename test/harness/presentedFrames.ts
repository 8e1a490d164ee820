// Every frame a page presents for one participant's tile (requestVideoFrameCallback): what the viewer saw, not what
// the sender meant to send.
import type { Page } from 'playwright-core';

interface FrameLog {
  __frames?: Array<{ t: number; w: number }>;
}

/** Starts logging every frame the tile of `peerId` presents from now on (epoch ms, width). */
export async function recordFrames(page: Page, peerId: string): Promise<void> {
  await page.evaluate((id) => {
    const w = window as unknown as FrameLog;
    w.__frames = [];
    const v = document.querySelector<HTMLVideoElement>(`[data-testid="tile"][data-peer="${id}"] video`)!;
    const onFrame = (_now: number, meta: VideoFrameCallbackMetadata) => {
      w.__frames!.push({ t: Date.now(), w: meta.width });
      v.requestVideoFrameCallback(onFrame);
    };
    v.requestVideoFrameCallback(onFrame);
  }, peerId);
}

/** Frames presented in [from, to] (epoch ms): count, rate, widths, longest gap (from `from` to the first frame included), share ≤ `lowWidth` wide. */
export async function framesBetween(page: Page, from: number, to: number, lowWidth = 320): Promise<{ count: number; fps: number; widths: number[]; maxGapMs: number; lowShare: number }> {
  const frames = ((await page.evaluate(() => (window as unknown as FrameLog).__frames)) ?? []).filter((f) => f.t >= from && f.t <= to);
  const times = [from, ...frames.map((f) => f.t), to];
  const maxGapMs = Math.max(...times.slice(1).map((t, i) => t - times[i]!));
  return {
    count: frames.length,
    fps: (frames.length * 1000) / Math.max(1, to - from),
    widths: [...new Set(frames.map((f) => f.w))].sort((a, b) => a - b),
    maxGapMs,
    lowShare: frames.filter((f) => f.w <= lowWidth).length / Math.max(1, frames.length),
  };
}
