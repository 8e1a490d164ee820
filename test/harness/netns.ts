import { networkInterfaces } from 'node:os';

/** Names of network interfaces that have a non-loopback address. */
export function nonLoopbackInterfaces(): string[] {
  const names: string[] = [];
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (addrs?.some((a) => !a.internal)) names.push(name);
  }
  return names;
}

/** True when this process can only reach loopback (e.g. inside `node scripts/in-netns.mjs`). */
export function isNetworkIsolated(): boolean {
  return nonLoopbackInterfaces().length === 0;
}

/**
 * Throws unless the process is network-isolated, so browsers and servers started by tests can
 * never talk to a real network. RTC_RECORD_NO_NETNS=1 (the same opt-out as scripts/in-netns.mjs)
 * downgrades this to a warning.
 */
export function assertNetworkIsolated(what = 'this test'): void {
  const others = nonLoopbackInterfaces();
  if (others.length === 0) return;
  const msg =
    `${what} must run in a private network namespace (found non-loopback interfaces: ${others.join(', ')}). ` +
    'Run it through `node scripts/in-netns.mjs vitest run ...` (npm test does), or set RTC_RECORD_NO_NETNS=1.';
  if (process.env.RTC_RECORD_NO_NETNS === '1') {
    console.warn(`WARNING: ${msg}`);
    return;
  }
  throw new Error(msg);
}
