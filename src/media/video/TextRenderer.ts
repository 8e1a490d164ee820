import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { logger as defaultLogger, type Logger } from '../../logger.js';
import { runFfmpeg } from '../ffmpeg/FfmpegProcess.js';
import type { TextMask } from './TextRendererTypes.js';
import type { YuvFrame } from './VideoTileDecoderTypes.js';

/** Fonts tried in order (Debian: fonts-dejavu-core, fonts-liberation); RTC_RECORD_FONT overrides. */
const FONT_CANDIDATES = [
  '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf',
  '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf',
  '/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf',
  '/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf',
  '/usr/share/fonts/TTF/DejaVuSans.ttf',
  '/System/Library/Fonts/Supplemental/Arial.ttf',
];

export function resolveFontFile(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const override = env.RTC_RECORD_FONT;
  if (override && existsSync(override)) return override;
  return FONT_CANDIDATES.find((f) => existsSync(f));
}

const even = (v: number): number => Math.max(2, Math.floor(v / 2) * 2);

/** Names are drawn once at this size; every label and placeholder is scaled from it. */
const REFERENCE_PX = 96;

/**
 * Renders participant names with ffmpeg's drawtext (libfreetype) once per name, as a bitmap scaled here to each label
 * and placeholder size the layouts need, and blended by the compositor itself — no per-frame text work, and re-layouts
 * never touch the encoder. Once per name, not per size: spawning ffmpeg blocks the event loop (30–80 ms on a loaded
 * 2-core machine), and six people joining at once went through six layouts.
 * Without a usable font (or drawtext) labels are simply left out and placeholders show no name; that is logged once.
 */
export class TextRenderer {
  private readonly references = new Map<string, Promise<TextMask | undefined>>();
  private readonly masks = new Map<string, Promise<TextMask | undefined>>();
  private readonly placeholders = new Map<string, Promise<YuvFrame>>();
  private readonly dir = mkdtempSync(join(tmpdir(), 'rtc-record-text-'));
  private warned = false;
  private readonly log: Logger;
  readonly fontFile: string | undefined;

  constructor(logger: Logger = defaultLogger) {
    this.log = logger;
    this.fontFile = resolveFontFile();
    if (!this.fontFile) this.warnOnce('no font found (install fonts-dejavu-core or set RTC_RECORD_FONT); names are not drawn');
  }

  /** The name as an alpha mask `fontPx` tall (cropped to the text's width plus a margin). Cached. */
  label(text: string, fontPx: number): Promise<TextMask | undefined> {
    const key = `${fontPx}\0${text}`;
    let p = this.masks.get(key);
    if (!p) {
      p = this.reference(text).then((ref) => ref && scaleMask(ref, fontPx / REFERENCE_PX));
      this.masks.set(key, p);
    }
    return p;
  }

  private reference(text: string): Promise<TextMask | undefined> {
    let p = this.references.get(text);
    if (!p) {
      p = this.renderMask(text, REFERENCE_PX);
      this.references.set(text, p);
    }
    return p;
  }

  /** A dark tile with the name centred: shown for participants without (working) video. Cached per size. */
  placeholder(text: string, width: number, height: number): Promise<YuvFrame> {
    const key = `${width}x${height}\0${text}`;
    let p = this.placeholders.get(key);
    if (!p) {
      p = this.renderPlaceholder(text, width, height);
      this.placeholders.set(key, p);
    }
    return p;
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  private warnOnce(msg: string, extra: object = {}): void {
    if (this.warned) return;
    this.warned = true;
    this.log.warn(extra, msg);
  }

  private textFile(text: string): string {
    // textfile= avoids drawtext's escaping rules entirely (names may contain ' and :).
    const file = join(this.dir, `t${this.masks.size + this.placeholders.size}-${Math.random().toString(36).slice(2)}.txt`);
    writeFileSync(file, text);
    return file;
  }

  private drawtext(text: string, fontPx: number, x: string, y: string): string {
    const font = this.fontFile ? `fontfile=${this.fontFile}` : 'font=Sans';
    return `drawtext=${font}:textfile=${this.textFile(text)}:fontsize=${fontPx}:fontcolor=white:x=${x}:y=${y}`;
  }

  private async renderMask(text: string, fontPx: number): Promise<TextMask | undefined> {
    const h = even(fontPx * 1.5);
    const w = even(Math.min(8000, fontPx * (text.length + 2)));
    try {
      const { stdout } = await runFfmpeg(
        [
          '-v', 'error', '-f', 'lavfi', '-i', `color=c=black:s=${w}x${h}:d=1`,
          '-vf', this.drawtext(text, fontPx, String(Math.round(fontPx / 2)), '(h-th)/2'),
          '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1',
        ],
        { timeoutMs: 10_000, logger: this.log },
      );
      if (stdout.length < w * h) throw new Error(`short output (${stdout.length} bytes)`);
      // Crop to the rightmost lit column plus the same margin as on the left.
      let right = 0;
      for (let y = 0; y < h; y++) for (let x = w - 1; x > right; x--) if (stdout[y * w + x]! > 16) right = x;
      const cw = Math.min(w, even(right + Math.round(fontPx / 2) + 2));
      const alpha = Buffer.alloc(cw * h);
      for (let y = 0; y < h; y++) stdout.copy(alpha, y * cw, y * w, y * w + cw);
      return { width: cw, height: h, alpha };
    } catch (err) {
      this.warnOnce('cannot render names with ffmpeg drawtext; names are not drawn', { err: (err as Error).message });
      return undefined;
    }
  }

  private async renderPlaceholder(text: string, width: number, height: number): Promise<YuvFrame> {
    const fontPx = Math.max(10, Math.min(Math.round(height / 6), Math.round((width * 1.6) / Math.max(4, text.length + 2))));
    const data = solidYuv(width, height, 0x2a, 0x2f, 0x3a);
    const ref = await this.reference(text);
    if (ref) drawCentred(data, width, height, scaleMask(ref, fontPx / REFERENCE_PX));
    return { data, width, height };
  }
}

/** The mask scaled by `factor` (area average when shrinking, bilinear when growing), even-sized. */
export function scaleMask(m: TextMask, factor: number): TextMask {
  const width = Math.max(2, even(Math.round(m.width * factor)));
  const height = Math.max(2, even(Math.round(m.height * factor)));
  const alpha = Buffer.alloc(width * height);
  const sx = m.width / width;
  const sy = m.height / height;
  for (let y = 0; y < height; y++) {
    const y0 = y * sy;
    const y1 = Math.min(m.height, y0 + Math.max(1, sy));
    for (let x = 0; x < width; x++) {
      const x0 = x * sx;
      const x1 = Math.min(m.width, x0 + Math.max(1, sx));
      // Box average over the source pixels this one covers (at least one): smooth edges at any size.
      let sum = 0;
      let n = 0;
      for (let yy = Math.floor(y0); yy < Math.ceil(y1); yy++) {
        for (let xx = Math.floor(x0); xx < Math.ceil(x1); xx++) {
          sum += m.alpha[yy * m.width + xx]!;
          n++;
        }
      }
      alpha[y * width + x] = n > 0 ? Math.round(sum / n) : 0;
    }
  }
  return { width, height, alpha };
}

/** White text of `mask` centred on a yuv420p picture (luma towards 235, chroma towards neutral, by alpha). */
function drawCentred(yuv: Buffer, width: number, height: number, mask: TextMask): void {
  const w = Math.min(width, mask.width);
  const h = Math.min(height, mask.height);
  const ox = even((width - w) / 2);
  const oy = even((height - h) / 2);
  const chroma = width * height;
  const cw = width / 2;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const a = mask.alpha[y * mask.width + x]!;
      if (a === 0) continue;
      const i = (oy + y) * width + ox + x;
      yuv[i] = yuv[i]! + (((235 - yuv[i]!) * a) >> 8);
      if ((x & 1) === 0 && (y & 1) === 0) {
        const c = ((oy + y) >> 1) * cw + ((ox + x) >> 1);
        for (const plane of [chroma, chroma + chroma / 4]) yuv[plane + c] = yuv[plane + c]! + (((128 - yuv[plane + c]!) * a) >> 8);
      }
    }
  }
}

/** A solid-colour yuv420p picture (BT.601 limited range). */
export function solidYuv(width: number, height: number, r: number, g: number, b: number): Buffer {
  const y = Math.round(16 + 0.257 * r + 0.504 * g + 0.098 * b);
  const u = Math.round(128 - 0.148 * r - 0.291 * g + 0.439 * b);
  const v = Math.round(128 + 0.439 * r - 0.368 * g - 0.071 * b);
  const buf = Buffer.alloc((width * height * 3) / 2);
  buf.fill(y, 0, width * height);
  buf.fill(u, width * height, (width * height * 5) / 4);
  buf.fill(v, (width * height * 5) / 4);
  return buf;
}
