// spawnChild: the children FfmpegProcess starts, through posix_spawn (Linux) — pipes both ways, extra input fds,
// exit codes and signals, a missing binary, default signal dispositions — and what it saves on the event loop.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { spawnChild, type Child } from '../../../src/media/ffmpeg/spawnChild.js';
import { posixSpawn, posixSpawnError, type ChildFd } from '../../../src/native/posixSpawn.js';

const exitOf = (child: Child) => once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
const readAll = async (r: Readable) => {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
};

describe('spawnChild', () => {
  it('uses posix_spawn on Linux', () => {
    expect(posixSpawn(), posixSpawnError()).toBeDefined();
  });

  it('pipes stdin to a child and its stdout back, and reports its exit code', async () => {
    const child = spawnChild('cat', [], ['pipe', 'pipe', 'pipe']);
    const exited = exitOf(child);
    child.stdin!.end('hello through a pipe');
    expect(await readAll(child.stdout!)).toBe('hello through a pipe');
    expect(await exited).toEqual([0, null]);
    const failing = spawnChild('sh', ['-c', 'echo oops >&2; exit 3'], ['ignore', 'ignore', 'pipe']);
    const failed = exitOf(failing);
    expect(await readAll(failing.stderr!)).toBe('oops\n');
    expect(await failed).toEqual([3, null]);
  });

  it('feeds extra inputs at fd 3, 4 and passes the environment', async () => {
    const child = spawnChild('sh', ['-c', 'cat <&3; cat <&4; echo " $GREETING"'], ['ignore', 'pipe', 'ignore', 'pipe', 'pipe'], { env: { PATH: process.env.PATH, GREETING: 'hi' } });
    (child.stdio[3] as Writable).end('three,');
    (child.stdio[4] as Writable).end('four');
    expect(await readAll(child.stdout!)).toBe('three,four hi\n');
  });

  it('ends by a signal, and starts with every signal at its default (node ignores SIGPIPE)', async () => {
    const sleeper = spawnChild('sleep', ['30'], ['ignore', 'ignore', 'ignore']);
    const exited = exitOf(sleeper);
    expect(sleeper.kill('SIGTERM')).toBe(true);
    expect(await exited).toEqual([null, 'SIGTERM']);
    expect(sleeper.kill('SIGTERM'), 'no signal to an ended child (its pid may be reused)').toBe(false);
    const status = spawnChild('grep', ['-E', '^Sig(Ign|Blk)', '/proc/self/status'], ['ignore', 'pipe', 'ignore']);
    const masks = Object.fromEntries((await readAll(status.stdout!)).trim().split('\n').map((l) => l.split(':\t')).map(([k, v]) => [k, BigInt(`0x${v}`)]));
    expect(masks.SigBlk, 'blocked').toBe(0n);
    // Signals 1-31 at their default; glibc leaves its own two (32, 33: thread cancellation and set*id) ignored.
    expect(masks.SigIgn! & 0x7fffffffn, 'ignored').toBe(0n);
  });

  it("copies each fd from the right source when a source's number is also one of the child's fds", async () => {
    const posix = posixSpawn()!;
    const [aRead, aWrite] = posix.pipe();
    const [bRead, bWrite] = posix.pipe();
    const [outRead, outWrite] = posix.pipe();
    const a = new net.Socket({ fd: aWrite, readable: false, writable: true });
    const b = new net.Socket({ fd: bWrite, readable: false, writable: true });
    const out = new net.Socket({ fd: outRead, readable: true, writable: false });
    // Child fd aRead gets pipe B, and a higher child fd gets pipe A from fd aRead: set in order, that second copy
    // would read the first's result (pipe B).
    const high = Math.max(aRead, bRead) + 1;
    const fds: ChildFd[] = Array.from({ length: high + 1 }, () => 'null' as const);
    fds[1] = { dup: outWrite };
    fds[aRead] = { dup: bRead };
    fds[high] = { dup: aRead };
    const env = [`PATH=${process.env.PATH}`];
    posix.spawn('sh', ['sh', '-c', `cat /dev/fd/${high}`], env, fds);
    for (const fd of [aRead, bRead, outWrite]) posix.close(fd);
    a.end('from pipe A');
    b.end('from pipe B');
    expect(await readAll(out)).toBe('from pipe A');
  });

  it('reports a binary that does not exist as an error event with no pid', async () => {
    const child = spawnChild('/nonexistent/ffmpeg', [], ['pipe', 'ignore', 'pipe']);
    const [err] = (await once(child, 'error')) as [NodeJS.ErrnoException];
    expect(err.code).toBe('ENOENT');
    expect(child.pid).toBeUndefined();
  });

  it('holds the event loop for a fraction of what node spawn does (fork of a large process)', async () => {
    const ballast = Array.from({ length: 300 }, () => Buffer.alloc(1 << 20, 1)); // a server's few hundred MB
    const time = async (start: () => Child) => {
      const ms: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t = performance.now();
        const child = start();
        ms.push(performance.now() - t);
        await exitOf(child);
      }
      return ms.sort((a, b) => a - b)[2]!;
    };
    const ours = await time(() => spawnChild('true', [], ['ignore', 'ignore', 'ignore']));
    const node = await time(() => spawn('true', [], { stdio: 'ignore' }));
    console.log(`spawn holds the event loop: posix_spawn ${ours.toFixed(1)} ms, node ${node.toFixed(1)} ms (median of 5, ${ballast.length} MB allocated)`);
    expect(ours).toBeLessThan(node);
  });
});
