import { existsSync, writeFileSync } from 'node:fs';
import { setPriority } from 'node:os';

/**
 * Runs `pid` before the test's browsers when the two compete for CPU (nice -10). With autogroup scheduling
 * (/proc/sys/kernel/sched_autogroup_enabled), nice orders threads only within a session, and each Chromium Playwright
 * starts is a session of its own: a server at nice -10 in the test's session still got an equal share with each
 * browser, 1/7 of the CPU against six, and waited runnable ~90 % of the time (measured with /proc/<pid>/schedstat).
 * So the process should be started in a session of its own (CliProcess `detached`), whose autogroup is favoured too.
 * Best effort: without the permission it runs at the default priority.
 */
export function favourProcess(pid: number, nice = -10): void {
  try {
    setPriority(pid, nice);
    if (existsSync(`/proc/${pid}/autogroup`)) writeFileSync(`/proc/${pid}/autogroup`, String(nice));
  } catch {
    /* not permitted */
  }
}
