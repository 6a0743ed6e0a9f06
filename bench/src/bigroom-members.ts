/**
 * A process holding thousands of members of one big channel (forked by the big-room bench,
 * driven over IPC). For every message it records when it arrived, so the bench can take, per
 * message, the arrival at the *last* member over all processes (wall clock: the processes share
 * the machine's clock). It also counts the presence frames and bytes its members receive, and can
 * make some of its members leave and join again.
 *
 * The member processes share the machine with the servers they measure, so each member is a bare
 * `ws` connection (joined through `channel=` in its URL) that reads from each frame's bytes only
 * what the bench needs, without parsing the JSON: a member costs the servers exactly what a
 * client-library member would, and the machine much less CPU than one.
 */
import WebSocket from 'ws';
import { chatUrl } from '@chat/shared';

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

/** One member: its socket, and the answer its leave or join waits for. */
interface Member { ws: WebSocket; waiting?: { type: 'left' | 'history'; done(error?: Error): void } }

const members: Member[] = [];
let channel = '';
let arrivals = new Map<number, [number, number]>();
let presenceFrames = 0;
let presenceBytes = 0;
let since = Date.now();

/** Every frame starts `{"type":"`; the byte after it tells the frame types this process cares about apart. */
const TYPE_AT = '{"type":"'.length;
const TEXT = Buffer.from('"text":"big:');
const byte = (c: string): number => c.charCodeAt(0);

function arrived(k: number): void {
  const now = performance.timeOrigin + performance.now();
  const a = arrivals.get(k);
  if (a) { a[0]++; if (now > a[1]) a[1] = now; } else arrivals.set(k, [1, now]);
}

function onFrame(member: Member, data: Buffer): void {
  const t0 = data[TYPE_AT]; const t1 = data[TYPE_AT + 1];
  if (t0 === byte('m') && t1 === byte('e')) { // message: its text is big:<k>:<sent at>
    const at = data.indexOf(TEXT);
    if (at < 0) return;
    let k = 0;
    for (let i = at + TEXT.length; i < data.length; i++) {
      const c = data[i] as number;
      if (c < 48 || c > 57) break;
      k = k * 10 + c - 48;
    }
    arrived(k);
    return;
  }
  if (t0 === byte('p') && t1 === byte('r')) { presenceFrames++; presenceBytes += data.length; return; }
  const waiting = member.waiting;
  if (!waiting) return;
  if ((waiting.type === 'history' && t0 === byte('h')) || (waiting.type === 'left' && t0 === byte('l'))) { member.waiting = undefined; waiting.done(); return; }
  if (t0 === byte('e') && t1 === byte('r')) { member.waiting = undefined; waiting.done(new Error(`member refused: ${data.toString('utf8', 0, 200)}`)); }
}

/** Sends `frame` (or nothing, when the URL joins) and resolves on the answer of `type`. */
function answer(member: Member, type: 'left' | 'history', frame?: object): Promise<void> {
  return new Promise((resolve, reject) => {
    member.waiting = { type, done: (err) => (err ? reject(err) : resolve()) };
    if (frame) member.ws.send(JSON.stringify(frame));
  });
}

function open(url: string, user: string): Promise<Member> {
  const ws = new WebSocket(chatUrl(url, { user, channels: [channel] }), { perMessageDeflate: false });
  const member: Member = { ws };
  const joined = answer(member, 'history');
  ws.on('message', (data: Buffer) => onFrame(member, data));
  return new Promise((resolve, reject) => {
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`member ${user}: HTTP ${res.statusCode} at the upgrade`)));
    joined.then(() => resolve(member), reject);
  });
}

async function connect(urls: string[], name: string, count: number, offset: number): Promise<number> {
  channel = name;
  for (let i = 0; i < count; i += 100) {
    members.push(...await Promise.all(Array.from({ length: Math.min(100, count - i) }, (_, j) => {
      const n = offset + i + j;
      return open(urls[n % urls.length] as string, `big-${n}`);
    })));
  }
  return members.length;
}

/** `cycles` times: `count` members leave, and join again after `pauseMs`. */
async function churn(count: number, cycles: number, pauseMs: number): Promise<void> {
  const moving = members.slice(-count);
  for (let c = 0; c < cycles; c++) {
    await Promise.all(moving.map((m) => answer(m, 'left', { type: 'leave', channel })));
    await new Promise((r) => setTimeout(r, pauseMs));
    await Promise.all(moving.map((m) => answer(m, 'history', { type: 'join', channel })));
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
      case 'close': for (const m of members) m.ws.close(); process.disconnect?.(); return undefined;
    }
  };
  handle().then((r) => { if (r) reply(r); }, (err: Error) => reply({ op: 'failed', error: err.message }));
});
process.on('disconnect', () => { for (const m of members) m.ws.close(); setTimeout(() => process.exit(0), 200).unref(); });
