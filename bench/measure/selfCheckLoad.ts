/**
 * A known load for the measurement self-check, run as its own process tree:
 *   node selfCheckLoad.js 1  →  ffmpeg (x264 job)  +  node selfCheckLoad.js 0  →  ffmpeg (shorter x264 job)
 * The middle node process exits (and is reaped) before the root does, and the root lingers 1.5 s after everything
 * ended, so a sampler sees live children, a grandchild, and reaped descendants counted through cutime/cstime.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runFfmpeg } from '../../src/media/ffmpeg/index.js';

const depth = Number(process.argv[2] ?? '0');

function x264Job(frames: number): Promise<unknown> {
  return runFfmpeg(
    ['-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30', '-frames:v', String(frames), '-c:v', 'libx264', '-preset', 'faster', '-threads', '1', '-f', 'null', '-'],
    { label: 'self-check load', timeoutMs: 60_000 },
  );
}

async function main(): Promise<void> {
  if (depth <= 0) {
    await x264Job(30);
    return;
  }
  const mid = spawn(process.execPath, [fileURLToPath(import.meta.url), String(depth - 1)], { stdio: 'ignore' });
  const midDone = new Promise<void>((resolve) => mid.on('exit', () => resolve()));
  await Promise.all([x264Job(60), midDone]);
  await new Promise((r) => setTimeout(r, 1500));
}

const guard = setTimeout(() => process.exit(2), 120_000);
guard.unref();
main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(`self-check load failed: ${err.message}`);
    process.exit(1);
  },
);
