/**
 * The big room: one channel with 10,000 members over 2 push servers, 10 msg/s from one sender.
 * Reports, per message, the latency from its send to its arrival at the *last* of the members
 * (p50, p99, max), first with the room steady and then while 1,000 members leave and join again,
 * and the presence traffic the members receive in each phase.
 */
import { fileURLToPath } from 'node:url';
import { ChatClient } from '@chat/client';
import type { MembersCommand, MembersReply } from './bigroom-members.js';
import { socketFactory } from './clients.js';
import { HelperProcess } from './loadgens.js';
import { cpuSnapshot, type Tracked } from './proc-stats.js';
import type { RunningSystem } from './systems.js';

const MEMBERS_BIN = fileURLToPath(new URL('./bigroom-members.js', import.meta.url));

export interface BigRoomPhase {
  phase: string;
  messages: number;
  /** Messages that did not reach every member within the settle time. */
  incomplete: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  presenceFramesPerSecond: number;
  presenceKBPerSecond: number;
  /** CPU cores used per role over the phase. */
  cores: Record<string, number>;
}

export interface BigRoomResult {
  members: number;
  rate: number;
  connectSeconds: number;
  phases: BigRoomPhase[];
}

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d;

export async function bigRoom(system: RunningSystem, options: { members: number; rate: number; phaseMs: number; churn: number }, log: (l: string) => void): Promise<BigRoomResult> {
  const channel = 'big-room';
  const procs = [0, 1].map(() => new HelperProcess<MembersCommand, MembersReply>(MEMBERS_BIN, 'big room members'));
  const sender = await ChatClient.connect(system.urls[0] as string, { user: 'big-sender', socket: socketFactory });
  try {
    const connectStart = Date.now();
    const half = Math.ceil(options.members / procs.length);
    await Promise.all(procs.map((p, i) => p.ask({ op: 'connect', urls: system.urls, channel, count: Math.min(half, options.members - i * half), offset: i * half }, 'connected')));
    const connectSeconds = (Date.now() - connectStart) / 1000;
    log(`big room: ${options.members} members joined ${channel} in ${connectSeconds.toFixed(0)} s`);
    await sender.join(channel);
    await new Promise((r) => setTimeout(r, 3000)); // presence settles

    const tracked: Tracked[] = [...system.procs, ...procs.map((p, i) => ({ role: 'members', name: `members-${i + 1}`, pid: p.proc.pid as number }))];
    let k = 0;
    const phase = async (name: string, during?: () => Promise<unknown>): Promise<BigRoomPhase> => {
      await Promise.all(procs.map((p) => p.ask({ op: 'reset' }, 'reset')));
      const before = cpuSnapshot(tracked);
      const from = k;
      const sent = new Map<number, number>();
      const started = Date.now();
      const sending = (async () => {
        const count = Math.round((options.rate * options.phaseMs) / 1000);
        const t0 = performance.now();
        for (let i = 0; i < count; i++) {
          const due = t0 + (i * 1000) / options.rate;
          const wait = due - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          const n = k++;
          const at = performance.timeOrigin + due;
          sent.set(n, at);
          void sender.send(channel, `big:${n}:${Math.round(at)}`, `big-${n}`).catch(() => undefined);
        }
      })();
      await Promise.all([sending, during?.()]);
      await new Promise((r) => setTimeout(r, 3000)); // settle
      const seconds = (Date.now() - started) / 1000;
      const after = cpuSnapshot(tracked);
      const reports = (await Promise.all(procs.map((p) => p.ask({ op: 'report' }, 'report')))).map((r) => r.report);
      const latencies: number[] = [];
      let incomplete = 0;
      for (let n = from; n < k; n++) {
        const parts = reports.map((r) => r.arrivals[n]);
        const count = parts.reduce((a, x) => a + (x?.[0] ?? 0), 0);
        // While members leave and join, fewer than all may be in the room for a message.
        if (count < options.members - (during ? options.churn : 0)) incomplete++;
        const last = Math.max(...parts.map((x) => x?.[1] ?? 0));
        if (last > 0) latencies.push(last - (sent.get(n) as number));
      }
      latencies.sort((a, b) => a - b);
      const cores: Record<string, number> = {};
      for (const p of tracked) cores[p.role] = round((cores[p.role] ?? 0) + ((after.get(p.name) ?? 0) - (before.get(p.name) ?? 0)) / seconds, 2);
      const frames = reports.reduce((a, r) => a + r.presenceFrames, 0);
      const bytes = reports.reduce((a, r) => a + r.presenceBytes, 0);
      const result: BigRoomPhase = {
        phase: name, messages: k - from, incomplete,
        p50Ms: round(pct(latencies, 50)), p99Ms: round(pct(latencies, 99)), maxMs: round(latencies.at(-1) ?? 0),
        presenceFramesPerSecond: Math.round(frames / seconds), presenceKBPerSecond: round(bytes / 1024 / seconds), cores,
      };
      log(`  ${name}: ${result.messages} messages, to the last member p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, max ${result.maxMs} ms` +
        `${incomplete ? `, ${incomplete} incomplete` : ''}; presence ${result.presenceFramesPerSecond} frames/s (${result.presenceKBPerSecond} KB/s); cores ${JSON.stringify(cores)}`);
      return result;
    };
    const steady = await phase('steady');
    const perProcess = Math.round(options.churn / procs.length);
    const cycles = Math.max(1, Math.floor(options.phaseMs / 2000));
    const churning = await phase(`${options.churn} members leave and join again`, () => Promise.all(procs.map((p) => p.ask({ op: 'churn', members: perProcess, cycles, pauseMs: 1000 }, 'churned'))));
    return { members: options.members, rate: options.rate, connectSeconds, phases: [steady, churning] };
  } finally {
    await sender.close().catch(() => undefined);
    await Promise.all(procs.map((p) => p.close()));
  }
}
