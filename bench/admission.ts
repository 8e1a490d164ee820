/**
 * `npm run bench:admission`: how many recording jobs of each kind one `rtc-record worker` admits on this machine, from
 * the per-recording CPU the benchmark measured (the newest bench/results/*.json that has the scenario) and from the
 * costs workers use by default (src/recording/jobs/jobCosts.ts). Writes bench/results/admission.md. No media is run:
 * admission is arithmetic on measured figures (a worker takes a job only if Σ cost ≤ its cores).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_JOB_COSTS, jobsAtLimit } from '../src/recording/jobs/jobCosts.js';
import type { JobKind } from '../src/recording/jobs/RecordingJobTypes.js';
import { RESULTS_DIR } from './paths.js';

const KIND_OF_SCENARIO: Record<string, JobKind> = { composite: 'composite', audio: 'audio-only', tracks: 'tracks-only' };

interface Measured {
  cores: number;
  file: string;
  participants?: number;
}

/** The newest measured `ours.cores` of each scenario across the dated result files. */
function measuredCosts(): Partial<Record<JobKind, Measured>> {
  const files = readdirSync(RESULTS_DIR).filter((f) => /^\d{4}-\d\d-\d\dT.*\.json$/.test(f)).sort().reverse();
  const out: Partial<Record<JobKind, Measured>> = {};
  for (const file of files) {
    let doc: { scenarios?: Array<{ name: string; participants?: number; ours?: { cores?: number } }> };
    try {
      doc = JSON.parse(readFileSync(join(RESULTS_DIR, file), 'utf8'));
    } catch {
      continue;
    }
    for (const s of doc.scenarios ?? []) {
      const kind = KIND_OF_SCENARIO[s.name];
      if (kind && !out[kind] && typeof s.ours?.cores === 'number') out[kind] = { cores: s.ours.cores, file, participants: s.participants };
    }
  }
  return out;
}

const cores = Number(process.env.WORKER_CORES) || availableParallelism();
const measured = measuredCosts();
const lines = [
  `Jobs one worker admits at its admission limit (${cores} cores, Σ job cost ≤ cores)`,
  '',
  '| job kind | measured CPU per recording (cores) | from | worker default cost | jobs per worker (measured) | jobs per worker (default cost) |',
  '|---|---|---|---|---|---|',
];
for (const kind of ['composite', 'audio-only', 'tracks-only'] as const) {
  const m = measured[kind];
  const perMeasured = m ? jobsAtLimit(cores, kind, { ...DEFAULT_JOB_COSTS, [kind]: m.cores }) : undefined;
  lines.push(
    `| ${kind} | ${m ? m.cores.toFixed(2) : '—'} | ${m ? `${m.file}${m.participants ? ` (${m.participants} participants)` : ''}` : 'not measured'} | ${DEFAULT_JOB_COSTS[kind]} | ${perMeasured ?? '—'} | ${jobsAtLimit(cores, kind)} |`,
  );
}
const md = lines.join('\n') + '\n';
writeFileSync(join(RESULTS_DIR, 'admission.md'), md);
console.log(md);
