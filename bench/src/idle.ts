/**
 * Idle-connection memory: N WebSocket connections held open to one server, each joined to one of
 * a number of channels (as a real idle client is), and the growth of that server's resident
 * memory per connection: once it has settled after the last connect, and again after the
 * connections have been idle for IDLE_HOLD_MS (the figure reported), since a server's memory just
 * after a connect storm still holds the storm's garbage.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Loadgens } from './loadgens.js';
import { rssBytes } from './proc-stats.js';
import type { RunningSystem } from './systems.js';

export interface IdleResult {
  id: string;
  label: string;
  connections: number;
  channels: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  /** Per connection after IDLE_HOLD_MS idle: the reported figure. */
  bytesPerConnection: number;
  /** Per connection just after the last connect (once RSS settles). */
  bytesPerConnectionConnected?: number;
}

/** How long the connections stay idle before the reported reading. */
export const IDLE_HOLD_MS = 20_000;

/** RSS once two readings 500 ms apart differ by less than 1% (at most 10 s). */
async function settledRss(pid: number): Promise<number> {
  let last = rssBytes(pid);
  for (let i = 0; i < 20; i++) {
    await sleep(500);
    const now = rssBytes(pid);
    if (Math.abs(now - last) < last * 0.01) return now;
    last = now;
  }
  return last;
}

/** `system` must run one server: its first process is the one measured. */
export async function measureIdle(system: RunningSystem, connections: number, loadgenCount: number, channels: number): Promise<IdleResult> {
  const pid = (system.procs[0] as { pid: number }).pid;
  const url = system.urls[0] as string;
  const before = await settledRss(pid);
  const loadgens = Loadgens.start(loadgenCount);
  try {
    const per = Math.ceil(connections / loadgenCount);
    const answers = await loadgens.all((i) => ({ op: 'idle', system: system.kind, url, count: Math.min(per, connections - i * per), tag: `idle${i}`, channels }), 'idle');
    const open = answers.reduce((a, r) => a + r.connections, 0);
    const connected = await settledRss(pid);
    await sleep(IDLE_HOLD_MS);
    const after = await settledRss(pid);
    return {
      id: system.id, label: system.label, connections: open, channels, rssBeforeBytes: before, rssAfterBytes: after,
      bytesPerConnection: Math.round((after - before) / open), bytesPerConnectionConnected: Math.round((connected - before) / open),
    };
  } finally {
    await loadgens.close();
  }
}
