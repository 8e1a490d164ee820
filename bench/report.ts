/** Turns scenario results into table rows, the stdout table, the markdown file and the JSON file. */
import type { FloorResult } from './floor.js';
import type { OursResult } from './ours.js';
import { goalMet, type Goal, type MetricKey, type Scenario } from './scenarios.js';

export type Verdict = 'pass' | 'FAIL' | 'FAIL (noisy run)' | 'FAIL (load not delivered)' | 'info';

/**
 * Figures that depend on getting CPU in time rather than on CPU spent: unreliable when the machine is busy (a packet
 * the starved generator skipped is a hole in the mix and a frozen tile too).
 */
const REAL_TIME = new Set<MetricKey>(['rtf', 'lostPackets', 'stopToReadySec', 'audioMissingPct', 'frozenPerMin', 'switchFreezeSec']);

export interface Row {
  scenario: string;
  metric: string;
  ours: string;
  floor: string;
  ratio: string;
  goal: string;
  result: Verdict;
  values: { ours?: number; floor?: number; ratio?: number };
}

export interface ScenarioResult {
  name: Scenario['name'];
  title: string;
  participants: number;
  tracks: number;
  seconds: number;
  recorderFlags?: string[];
  error?: string;
  ours?: OursResult;
  /** The floor: the mean CPU of the runs before and after ours (`floorRuns`); other figures from the first. */
  floor?: FloorResult;
  floorRuns?: FloorResult[];
  floorError?: string;
  rows: Row[];
  pass: boolean;
}

const f = (v: number | undefined, digits = 2) => (v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits));

const METRIC_LABEL: Record<MetricKey, string> = {
  cores: 'CPU, steady (cores)',
  ratioToFloor: 'CPU vs ffmpeg floor',
  rtf: 'real-time factor',
  lostPackets: 'packets lost',
  stopToReadySec: 'stop → final output ready (s)',
  rssGrowthPct: 'RSS growth after 1st min (%)',
  peakRssMB: 'RSS peak (MiB)',
  steadyRssMB: 'RSS steady (MiB)',
  steadyPssMB: 'PSS steady (MiB)',
  generatorCores: 'load generator CPU (cores)',
  machineBusyCores: 'whole machine busy (cores of 2)',
  otherCores: 'other work on the machine (cores)',
  frozenPerMin: 'frozen tile time in the output (s/min)',
  audioMissingPct: 'talking time missing from the mix, worst voice (%)',
  longestAudioHoleMs: 'longest audio hole in the mix (ms)',
  layerSwitches: 'simulcast layer switches (SFU → recorder, in the judged output)',
  switchFreezeSec: 'longest frozen tile at a layer switch (s)',
};

function metricValue(key: MetricKey, ours: OursResult | undefined, floor: FloorResult | undefined): { ours?: number; floor?: number } {
  switch (key) {
    case 'cores':
      return { ours: ours?.cores, floor: floor?.cores };
    case 'ratioToFloor':
      return { ours: ours && floor ? ours.cores / floor.cores : undefined };
    case 'rtf':
      return { ours: ours?.rtf, floor: floor?.rtf };
    case 'lostPackets':
      return { ours: ours?.lostPackets };
    case 'stopToReadySec':
      return { ours: ours?.stopToReadySec };
    case 'rssGrowthPct':
      return { ours: ours?.rssGrowthPct };
    case 'peakRssMB':
      return { ours: ours?.peakRssMB, floor: floor?.peakRssMB };
    case 'steadyRssMB':
      return { ours: ours?.steadyRssMB, floor: floor?.steadyRssMB };
    case 'steadyPssMB':
      return { ours: ours?.steadyPssMB, floor: floor?.steadyPssMB };
    case 'generatorCores':
      return { ours: ours?.generator.cores };
    case 'machineBusyCores':
      return { ours: ours?.machineBusyCores };
    case 'otherCores':
      return { ours: ours?.otherCores };
    case 'frozenPerMin':
      return { ours: ours?.freezes?.perMinute, floor: floor?.freezes?.perMinute };
    case 'audioMissingPct':
      return { ours: ours?.continuity?.worstMissingPct, floor: floor?.continuity?.worstMissingPct };
    case 'longestAudioHoleMs':
      return { ours: ours?.continuity?.longestHoleMs, floor: floor?.continuity?.longestHoleMs };
    case 'layerSwitches':
      return { ours: ours?.layerSwitches?.count };
    case 'switchFreezeSec':
      return { ours: ours?.layerSwitches?.longestFreezeSec };
  }
}

function formatOurs(key: MetricKey, v: number | undefined, ours: OursResult | undefined): string {
  if (key === 'switchFreezeSec' && v === undefined && ours?.layerSwitches) return '— (no switch happened)';
  if (v === undefined || !Number.isFinite(v)) return '—';
  switch (key) {
    case 'ratioToFloor':
      return `${v.toFixed(2)}×`;
    case 'rtf':
      return v.toFixed(3);
    case 'lostPackets':
      return ours ? `${v} of ${ours.packets.sent}` : String(v);
    case 'peakRssMB':
    case 'steadyRssMB':
    case 'steadyPssMB':
      return v.toFixed(0);
    case 'rssGrowthPct':
      return `${v.toFixed(1)} %`;
    case 'layerSwitches': {
      const ls = ours?.layerSwitches;
      if (v === 0) return `0: no switch happened${ls?.total ? ` (${ls.total} outside the span)` : ''}`;
      const dirs = ls ? Object.entries(ls.byDirection).map(([d, n]) => `${d} ${n}`).join(', ') : '';
      return `${v}${dirs ? ` (${ls!.total} of ${ls!.asked ?? '?'} asked: ${dirs}${ls!.longestWaitMs !== undefined ? `; wait ≤ ${ls!.longestWaitMs} ms` : ''})` : ''}`;
    }
    case 'switchFreezeSec': {
      const ls = ours?.layerSwitches;
      const at = ls?.longestFreeze;
      return `${v.toFixed(2)}${ls ? ` (${ls.freezesAtSwitches} within ±${ls.marginSec} s${at ? `; tile ${at.tile} at ${at.startSec.toFixed(1)} s` : ''})` : ''}`;
    }
    default:
      return f(v);
  }
}

/** The rows of one scenario: its goals first, then informational figures. */
export function buildRows(s: Scenario, r: Omit<ScenarioResult, 'rows' | 'pass'>): Row[] {
  const rows: Row[] = [];
  const ours = r.error ? undefined : r.ours;
  const floor = r.floor;
  const missing = r.error ? `error: ${r.error}` : undefined;
  // More than 1 % of the packets never recorded: the recorder did not get the workload, so no figure of this run can
  // show the goal is met (less media is less work).
  const undelivered = ours !== undefined && ours.packets.sent > 0 && ours.lostPackets / ours.packets.sent > 0.01;
  const verdict = (goal: Goal, key: MetricKey, value: number | undefined): Verdict => {
    if (!ours) return 'FAIL';
    if (goalMet(goal, value)) return undelivered && key !== 'lostPackets' ? 'FAIL (load not delivered)' : 'pass';
    return ours.noisy && (REAL_TIME.has(key) || undelivered) ? 'FAIL (noisy run)' : 'FAIL';
  };
  const row = (key: MetricKey, goal: Goal | undefined): Row => {
    const v = metricValue(key, ours, floor);
    const ratio = key !== 'ratioToFloor' && key !== 'rtf' && v.ours !== undefined && v.floor ? v.ours / v.floor : undefined;
    return {
      scenario: s.name,
      metric: METRIC_LABEL[key],
      ours: ours ? formatOurs(key, v.ours, ours) : (missing ?? '—'),
      floor: key === 'peakRssMB' || key === 'steadyRssMB' || key === 'steadyPssMB' ? (v.floor === undefined ? '—' : v.floor.toFixed(0)) : key === 'rtf' ? f(v.floor, 3) : f(v.floor),
      ratio: ratio === undefined || !Number.isFinite(ratio) ? (key === 'ratioToFloor' && v.ours !== undefined ? formatOurs(key, v.ours, ours) : '—') : `${ratio.toFixed(2)}×`,
      goal: goal?.label ?? '',
      result: goal ? verdict(goal, key, v.ours) : 'info',
      values: { ...v, ratio },
    };
  };
  for (const g of s.goals) rows.push(row(g.metric, g));
  const shown = new Set(s.goals.map((g) => g.metric));
  const info: MetricKey[] = ['cores', 'rtf', 'lostPackets', 'audioMissingPct', 'longestAudioHoleMs', 'steadyRssMB', 'peakRssMB', 'steadyPssMB', 'stopToReadySec', 'rssGrowthPct', 'generatorCores', 'otherCores'];
  for (const key of info) {
    if (shown.has(key)) continue;
    if (key === 'lostPackets' && !ours) continue;
    if (key === 'rssGrowthPct' && ours?.rssGrowthPct === undefined) continue;
    if (!ours && !floor) continue;
    const v = metricValue(key, ours, floor);
    if (v.ours === undefined && v.floor === undefined) continue;
    rows.push(row(key, undefined));
  }
  return rows;
}

const HEADER = ['scenario', 'metric', 'ours', 'floor', 'ratio', 'goal', 'result'];

function cells(r: Row): string[] {
  return [r.scenario, r.metric, r.ours, r.floor, r.ratio, r.goal, r.result];
}

export function textTable(rows: Row[]): string {
  const all = [HEADER, ...rows.map(cells)];
  const widths = HEADER.map((_, i) => Math.min(i === 2 ? 60 : 40, Math.max(...all.map((c) => [...c[i]!].length))));
  const pad = (s: string, w: number) => {
    const chars = [...s];
    return chars.length > w ? `${chars.slice(0, w - 1).join('')}…` : s + ' '.repeat(w - chars.length);
  };
  const line = (c: string[]) => c.map((x, i) => pad(x, widths[i]!)).join('  ').trimEnd();
  const sep = widths.map((w) => '-'.repeat(w)).join('  ');
  const out: string[] = [line(HEADER), sep];
  let prev = '';
  for (const r of rows) {
    if (prev && r.scenario !== prev) out.push('');
    out.push(line(cells(r)));
    prev = r.scenario;
  }
  return out.join('\n');
}

export function markdownTable(rows: Row[]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [
    `| ${HEADER.join(' | ')} |`,
    `|${HEADER.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${cells(r).map((c, i) => esc(i === 6 && c.startsWith('FAIL') ? `**${c}**` : c)).join(' | ')} |`),
  ].join('\n');
}
