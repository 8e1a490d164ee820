// Admission arithmetic and the job kinds (no Redis): what a worker may take given its cores, its jobs' expected costs
// and what its process tree measurably uses.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { collectCost, parseCores } from '../../../src/cli/workerCommand.js';
import { Admission } from '../../../src/recording/jobs/Admission.js';
import { CpuMeter } from '../../../src/recording/jobs/cpuMeter.js';
import { DEFAULT_JOB_COSTS, jobKind, jobsAtLimit } from '../../../src/recording/jobs/jobCosts.js';

describe('admission', () => {
  it('reserves while the sum of expected costs fits the cores, never beyond; release frees', () => {
    const a = new Admission(2);
    expect(['c1', 'c2', 'c3', 'c4'].map((id) => a.reserve(id, 'composite'))).toEqual([true, true, true, false]);
    expect(a.committedCores).toBeCloseTo(1.8, 9);
    expect(a.fits('audio-only')).toBe(true); // 0.2 left ≥ 0.12
    expect(a.reserve('a1', 'audio-only')).toBe(true);
    expect(a.fits('audio-only')).toBe(false); // 1.92 + 0.12 > 2
    a.release('c1');
    expect(a.fits('composite')).toBe(true);
    expect(a.reserve('c1', 'composite')).toBe(true);
    expect(a.committedCores).toBeLessThanOrEqual(2);
  });

  it('measured use counts when it is more than the expected costs (a job heavier than its estimate)', () => {
    const a = new Admission(2);
    a.reserve('c1', 'composite');
    a.measuredCores = 1.7;
    expect(a.usedCores).toBe(1.7);
    expect(a.fits('composite')).toBe(false);
    expect(a.fits('audio-only')).toBe(true);
    a.measuredCores = 0.2;
    expect(a.usedCores).toBeCloseTo(0.6, 9);
    expect(a.freeCores).toBeCloseTo(1.4, 9);
  });

  it('job kinds from what a recording makes; jobs at the limit; worker options', () => {
    expect(jobKind({}, true)).toBe('composite');
    expect(jobKind({ video: false }, true)).toBe('audio-only');
    expect(jobKind(false, true)).toBe('tracks-only');
    expect(jobsAtLimit(2, 'composite')).toBe(3);
    expect(jobsAtLimit(2, 'tracks-only')).toBe(5);
    expect(jobsAtLimit(2, 'audio-only')).toBe(16);
    expect(jobsAtLimit(1.2, 'composite', { ...DEFAULT_JOB_COSTS, composite: 0.6 })).toBe(2); // no float shortfall
    expect(collectCost('composite=0.8', {})).toEqual({ composite: 0.8 });
    expect(() => collectCost('video=1', {})).toThrow(/kind=cores/);
    expect(() => collectCost('composite=0', {})).toThrow(/kind=cores/);
    expect(() => parseCores('-1')).toThrow(/positive/);
  });

  it('the CPU meter sees a busy child process', async () => {
    const meter = new CpuMeter();
    const child = spawn(process.execPath, ['-e', 'const t = Date.now(); while (Date.now() - t < 1500) {}']);
    await new Promise((r) => setTimeout(r, 1200));
    const cores = meter.sample();
    child.kill();
    expect(cores).toBeGreaterThan(0.4);
  });
});
