import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** All live descendants of `pid` (Linux /proc). */
export function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      /* gone */
    }
  }
  const out: number[] = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop()!;
    for (const [child, pp] of parent) if (pp === p) (out.push(child), stack.push(child));
  }
  return out;
}

/** The executables of the live descendants of `pid`. */
export function childExecutables(pid: number): string[] {
  return descendants(pid).flatMap((p) => {
    try {
      return [readlinkSync(`/proc/${p}/exe`)];
    } catch {
      return []; // gone
    }
  });
}
