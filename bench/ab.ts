/**
 * `npm run bench:ab -- <scenario> [--seconds N] [--rounds N] [--b-bin PATH] [--a-node-flags=F1,F2] [--b-node-flags=F1,F2]`
 *
 * Two recorders measured side by side, at the same time, each in its own room with its own load generator: A is this
 * checkout's CLI, B another checkout's (`--b-bin /other/bin/rtc-record.js`) or the same with other node flags. The
 * shared machine's speed drifts ±30 % within minutes, but both sides see the same drift, so B/A shows changes of a few
 * per cent that sequential runs cannot (an A/A run's mean reads 0.99–1.06). Prints per-round and mean CPU; not a goal check.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { participantFixtures } from './fixtures.js';
import { LoadGenerator } from './loadgen/client.js';
import { cores, coresByComm, TreeSampler } from './measure/procTree.js';
import { CACHE_DIR, CLI_BIN, shebangNodeFlags } from './paths.js';
import { CliProcess, startSignalingServer } from './cliProcess.js';
import { SCENARIOS } from './scenarios.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

interface Side {
  name: 'A' | 'B';
  bin: string;
  nodeFlags: string[];
  recorder?: CliProcess;
  generator?: LoadGenerator;
  sampler?: TreeSampler;
  cores: number[];
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      seconds: { type: 'string', default: '45' },
      rounds: { type: 'string', default: '3' },
      'b-bin': { type: 'string' },
      'a-node-flags': { type: 'string' },
      'b-node-flags': { type: 'string' },
    },
  });
  const scenario = SCENARIOS.find((s) => s.name === positionals[0] && !s.long);
  if (!scenario) {
    console.error(`usage: npm run bench:ab -- <${SCENARIOS.filter((s) => !s.long).map((s) => s.name).join('|')}> [--seconds 45] [--rounds 3] [--b-bin PATH] [--a-node-flags=F1,F2] [--b-node-flags=F1,F2]`);
    return 2;
  }
  const seconds = Number(values.seconds);
  const rounds = Number(values.rounds);
  if (!(seconds >= 5 && seconds <= 600) || !(Number.isInteger(rounds) && rounds >= 1 && rounds <= 20)) throw new Error('--seconds 5…600, --rounds 1…20');
  // Comma- or space-separated: `npm run` re-splits arguments on spaces.
  const flags = (bin: string, extra?: string) => (extra !== undefined ? extra.split(/[\s,]+/).filter(Boolean) : shebangNodeFlags(bin));
  const bBin = values['b-bin'] ?? CLI_BIN;
  const sides: Side[] = [
    { name: 'A', bin: CLI_BIN, nodeFlags: flags(CLI_BIN, values['a-node-flags']), cores: [] },
    { name: 'B', bin: bBin, nodeFlags: flags(bBin, values['b-node-flags']), cores: [] },
  ];
  for (const s of sides) console.log(`${s.name}: node ${s.nodeFlags.join(' ')} ${s.bin}`);

  let finished = false;
  const media = await participantFixtures(scenario.participants);
  const server = await startSignalingServer();
  const lifetimeMs = (seconds + 180) * 1000;
  const killAll = () => {
    for (const s of sides) s.recorder?.kill('SIGKILL');
    server.process.kill('SIGKILL');
  };
  const guard = setTimeout(() => {
    console.error('bench:ab: time limit reached');
    killAll();
    process.exit(3);
  }, lifetimeMs + 60_000);
  try {
    for (const side of sides) {
      const room = `ab-${side.name.toLowerCase()}-${Date.now()}`;
      const out = join(CACHE_DIR, 'ab', room);
      mkdirSync(out, { recursive: true });
      const args = ['--room', room, '--server', server.wsUrl, '--out', out, '--ice-address', '127.0.0.1', ...scenario.recorderFlags];
      const recorder = new CliProcess(args, lifetimeMs, { bin: side.bin, nodeFlags: side.nodeFlags });
      side.recorder = recorder;
      void recorder.exited.then(({ code, signal }) => {
        if (!finished) console.error(`${side.name}: the recorder exited (${code ?? signal}); ${recorder.outputTail(20)}`);
      });
      await recorder.waitForLine(/^recording room /, 30_000);
      side.sampler = new TreeSampler(recorder.pid, 1000).start();
      side.generator = LoadGenerator.forRoom(server.wsUrl, room, media, lifetimeMs);
    }
    for (const s of sides) await s.generator!.wait('flowing', 90_000);
    await sleep(6000);
    for (let round = 1; round <= rounds; round++) {
      const start = sides.map((s) => s.sampler!.sampleNow());
      await sleep((seconds / rounds) * 1000);
      const end = sides.map((s) => s.sampler!.sampleNow());
      const parts = sides.map((s, i) => {
        const [a, b] = [start[i], end[i]];
        if (!a || !b) throw new Error(`${s.name}: the recorder exited during the measurement`);
        const c = cores(a, b);
        s.cores.push(c);
        const by = coresByComm(a, b);
        return `${s.name} ${c.toFixed(3)} (node ${(by.node ?? 0).toFixed(3)}, ffmpeg ${(by.ffmpeg ?? 0).toFixed(3)})`;
      });
      console.log(`round ${round}: ${parts.join('   ')}   B/A ${(sides[1]!.cores.at(-1)! / sides[0]!.cores.at(-1)!).toFixed(3)}`);
    }
    finished = true;
    const [a, b] = sides.map((s) => mean(s.cores)) as [number, number];
    console.log(`mean (cores): A ${a.toFixed(3)}  B ${b.toFixed(3)}  B/A ${(b / a).toFixed(3)}`);
    return 0;
  } finally {
    finished = true;
    clearTimeout(guard);
    for (const s of sides) s.recorder?.kill('SIGINT');
    await Promise.all(sides.map((s) => s.generator?.close()));
    await sleep(2000);
    killAll();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`bench:ab: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);
