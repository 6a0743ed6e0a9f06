/**
 * A process holding thousands of members of one big channel (forked by the big-room bench,
 * driven over IPC). Each member is a client-library connection; for every message it records
 * when it arrived, so the bench can take, per message, the arrival at the *last* member over all
 * processes (wall clock: the processes share the machine's clock). It also counts the presence
 * frames and bytes its members receive, and can make some of its members leave and join again.
 */
import { ChatClient } from '@chat/client';
import { socketFactory } from './clients.js';

export type MembersCommand =
  | { op: 'connect'; urls: string[]; channel: string; count: number; offset: number }
  | { op: 'reset' }
  | { op: 'report' }
  | { op: 'churn'; members: number; cycles: number; pauseMs: number }
  | { op: 'close' };

export interface MembersReport {
  /** Per message number: how many members got it, and the latest arrival (epoch ms). */
  arrivals: Record<number, [number, number]>;
  presenceFrames: number;
  presenceBytes: number;
  seconds: number;
}

export type MembersReply = { op: 'connected'; members: number } | { op: 'reset' } | { op: 'report'; report: MembersReport } | { op: 'churned' } | { op: 'failed'; error: string };

const members: ChatClient[] = [];
let channel = '';
let arrivals = new Map<number, [number, number]>();
let presenceFrames = 0;
let presenceBytes = 0;
let since = Date.now();

function onMessage(text: string): void {
  const now = performance.timeOrigin + performance.now();
  const k = Number(text.slice(4, text.indexOf(':', 4)));
  const a = arrivals.get(k);
  if (a) { a[0]++; if (now > a[1]) a[1] = now; } else arrivals.set(k, [1, now]);
}

async function connect(urls: string[], name: string, count: number, offset: number): Promise<number> {
  channel = name;
  for (let i = 0; i < count; i += 100) {
    members.push(...await Promise.all(Array.from({ length: Math.min(100, count - i) }, async (_, j) => {
      const n = offset + i + j;
      const client = await ChatClient.connect(urls[n % urls.length] as string, { user: `big-${n}`, socket: socketFactory });
      client.on('message', (m) => onMessage(m.text));
      client.on('presence', (p) => { presenceFrames++; presenceBytes += JSON.stringify(p).length; });
      await client.join(channel);
      return client;
    })));
  }
  return members.length;
}

/** `cycles` times: `count` members leave, and join again after `pauseMs`. */
async function churn(count: number, cycles: number, pauseMs: number): Promise<void> {
  const moving = members.slice(-count);
  for (let c = 0; c < cycles; c++) {
    await Promise.all(moving.map((m) => m.leave(channel)));
    await new Promise((r) => setTimeout(r, pauseMs));
    await Promise.all(moving.map((m) => m.join(channel)));
    await new Promise((r) => setTimeout(r, pauseMs));
  }
}

const reply = (r: MembersReply): void => { if (process.connected) process.send?.(r); };
process.on('message', (cmd: MembersCommand) => {
  const handle = async (): Promise<MembersReply | undefined> => {
    switch (cmd.op) {
      case 'connect': return { op: 'connected', members: await connect(cmd.urls, cmd.channel, cmd.count, cmd.offset) };
      case 'reset': arrivals = new Map(); presenceFrames = 0; presenceBytes = 0; since = Date.now(); return { op: 'reset' };
      case 'report':
        return { op: 'report', report: { arrivals: Object.fromEntries(arrivals), presenceFrames, presenceBytes, seconds: (Date.now() - since) / 1000 } };
      case 'churn': await churn(cmd.members, cmd.cycles, cmd.pauseMs); return { op: 'churned' };
      case 'close': for (const m of members) void m.close(); process.disconnect?.(); return undefined;
    }
  };
  handle().then((r) => { if (r) reply(r); }, (err: Error) => reply({ op: 'failed', error: err.message }));
});
process.on('disconnect', () => { for (const m of members) void m.close(); setTimeout(() => process.exit(0), 200).unref(); });
