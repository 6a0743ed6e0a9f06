/**
 * A load-generator process (forked by the bench, driven over IPC). It owns whole channels: every
 * member of its channels is one connection of its own, spread over the system's servers, so a
 * message's send time and each member's receive time are read on the same monotonic clock.
 *
 * Load is open-loop: messages go out on a fixed schedule whatever the system does, and each one
 * carries its scheduled send time, so a slow system cannot slow the load (no coordinated
 * omission). Either every member of a channel sends in turn (no connection exceeds its rate
 * limit) or each channel has one busy sender (a bot, a bridge, a broadcaster).
 *
 * Every member checks what it receives: each message once, and in `seq` order where the system
 * numbers its events (a seq lower than one already seen counts as an order violation).
 */
import { performance } from 'node:perf_hooks';
import * as hdr from 'hdr-histogram-js';
import { mintToken } from '@chat/shared';
import { newHistogram } from './histogram.js';
import { connectIdle, connectMember, type Member, type SystemKind } from './clients.js';

export type LoadgenCommand =
  | { op: 'connect'; system: SystemKind; urls: string[]; channels: string[]; members: number; tag: string; senders: Senders; authSecret?: string }
  | { op: 'run'; step: number; rate: number; durationMs: number; settleMs: number; rampMs: number; mix?: Mix }
  | { op: 'quiet'; quietMs: number; timeoutMs: number }
  | { op: 'idle'; system: SystemKind; url: string; count: number; tag: string; channels: number }
  | { op: 'close' };

export interface StepReport {
  sent: number;
  acked: number;
  /** Sends answered with an error (code → count). */
  errors: Record<string, number>;
  /** Messages every member received. */
  complete: number;
  /** Deliveries seen (a message delivered to 10 members counts 10). */
  deliveries: number;
  duplicates: number;
  /** Deliveries whose seq was below one the member had already seen. */
  outOfOrder: number;
  /** Deliveries that arrived after the settle time (counted lost for the step). */
  late: number;
  /** Latency histogram in microseconds, hdr-histogram compressed. */
  histogram: string;
  /** Worst latency (ms) of the messages scheduled in each 100 ms of the step: shows when pauses happened. */
  timeline: number[];
  /** Mixed load: events sent by kind, and typing notices sent and delivered. */
  kinds?: { messages: number; reactions: number; edits: number; typingSent: number; typingDelivered: number };
  /** Mixed load: the updates' latencies alone (edits and reactions), like `histogram`. */
  updatesHistogram?: string;
}

export type LoadgenReply =
  | { op: 'connected'; connections: number }
  | { op: 'ran'; report: StepReport }
  | { op: 'quiet'; quiet: boolean }
  | { op: 'idle'; connections: number }
  | { op: 'failed'; error: string };

/** Who sends: every member in turn, or the first member of each channel only. */
export type Senders = 'all' | 'one-per-channel';

/** The mixed load's two parts, separable to see what each costs: updates in the mix, and typing. */
export interface Mix { updates: boolean; typing: boolean }

const FILLER = 'x'.repeat(48);
/**
 * Mixed load: of every 10 events, 7 messages, 2 reactions, 1 edit; and every member types once a
 * second whatever the rate (issue 16's load: typing at 1 per second per active member; every
 * member of the rooms shape sends). The server forwards at most one per 2 s per member.
 */
const MIX = ['message', 'message', 'message', 'message', 'message', 'message', 'message', 'react', 'react', 'edit'] as const;
const EMOJI = Array.from({ length: 20 }, (_, i) => String.fromCodePoint(0x1f600 + i));

class Loadgen {
  private members: Member[] = [];
  /** The members that send, in turn. */
  private senders: Member[] = [];
  /** The highest seq each member has received. */
  private lastSeq = new Float64Array(0);
  private outOfOrder = 0;
  private membersPerChannel = 0;
  private closers: (() => void)[] = [];
  private step = -1;
  private counts = new Uint16Array(0);
  private histogram = newHistogram();
  /** Mixed load: the updates' latencies alone, and which events are updates. */
  private updatesHistogram = newHistogram();
  private isUpdate = new Uint8Array(0);
  private deliveries = 0;
  private complete = 0;
  private duplicates = 0;
  private late = 0;
  private lastDeliveryAt = 0;
  private timeline: number[] = [];
  private stepStart = 0;
  private timedFromUs = 0;
  private typingDelivered = 0;
  private readonly reacts = new Map<Member, number>();
  /** Each member's place in MIX (mixed load). */
  private readonly turns = new Map<Member, number>();

  async connect(system: SystemKind, urls: string[], channels: string[], members: number, tag: string, senders: Senders, authSecret?: string): Promise<number> {
    this.membersPerChannel = members;
    const specs = await Promise.all(channels.flatMap((channel, c) => Array.from({ length: members }, async (_, m) => {
      const user = `${tag}-${c}-${m}`;
      // With authentication on, each member has its own token granting its team's channels.
      const token = authSecret === undefined ? undefined : await mintToken(user, authSecret, 24 * 3600, { channels: ['bench-*'] });
      return { url: urls[(c + m) % urls.length] as string, user, token, channel };
    })));
    this.lastSeq = new Float64Array(specs.length);
    for (let i = 0; i < specs.length; i += 50) {
      this.members.push(...await Promise.all(specs.slice(i, i + 50).map((s, j) => connectMember(system, {
        ...s, onText: (t, seq) => this.received(t, seq, i + j), onTyping: () => { this.typingDelivered++; },
      }))));
    }
    this.senders = senders === 'all' ? this.members : this.members.filter((_, i) => i % members === 0);
    return this.members.length;
  }

  /**
   * Sends at `rate` for `durationMs`. Messages scheduled in the first `rampMs` count for loss but
   * not for latency: a step measures the steady state at its rate, not the jump to it.
   */
  async run(step: number, rate: number, durationMs: number, settleMs: number, rampMs: number, mix?: Mix): Promise<StepReport> {
    const planned = Math.ceil(rate * durationMs / 1000);
    this.step = step;
    this.counts = new Uint16Array(planned);
    this.histogram = newHistogram();
    this.updatesHistogram = newHistogram();
    this.isUpdate = new Uint8Array(planned);
    this.deliveries = this.complete = this.duplicates = this.late = this.outOfOrder = 0;
    let sent = 0;
    let acked = 0;
    const errors: Record<string, number> = {};
    const start = performance.now();
    this.stepStart = start;
    this.timedFromUs = (start + rampMs) * 1000;
    this.timeline = new Array<number>(Math.ceil(durationMs / 100)).fill(0);
    const kinds = { messages: 0, reactions: 0, edits: 0, typingSent: 0, typingDelivered: 0 };
    this.typingDelivered = 0;
    let typed = 0;
    const typingPerSecond = mix?.typing === true ? this.senders.length : 0;
    // Typing t belongs to sender t mod n: each sender types once a second, spread over the second.
    const typist = (t: number): Member | undefined => this.senders[t % this.senders.length];
    await new Promise<void>((resolve) => {
      const tick = (): void => {
        const now = performance.now();
        // Event k is due at start + k / rate.
        const due = Math.min(planned, Math.floor((now - start) * rate / 1000) + 1);
        for (; sent < due; sent++) {
          const scheduled = start + sent * 1000 / rate;
          const member = this.senders[sent % this.senders.length] as Member;
          const key = `${step}:${sent}:${Math.round(scheduled * 1000)}`;
          const done = (error?: string): void => { if (error === undefined) acked++; else errors[error] = (errors[error] ?? 0) + 1; };
          // An update needs an own message to change: until one arrived, the member sends a message.
          // Each member walks through the mix turn by turn, across runs and rates (a member that
          // started every run on the reacts would react to the same message again and again, until
          // the Lua step drops its reacts at MAX_REACTION_EMOJI); members start at different places.
          const turn = this.turns.get(member) ?? sent;
          this.turns.set(member, turn + 1);
          const kind = mix?.updates === true && member.update && (member.ownLatest ?? 0) > 0 ? MIX[turn % MIX.length] : 'message';
          if (kind !== 'message') this.isUpdate[sent] = 1;
          if (kind === 'edit') { kinds.edits++; member.update?.(key, { text: `${key}:${FILLER}` }, done); continue; }
          if (kind === 'react') {
            // A different emoji each time (20 before they repeat): a react never repeats one already there.
            const n = this.reacts.get(member) ?? 0;
            this.reacts.set(member, n + 1);
            kinds.reactions++;
            member.update?.(key, { emoji: EMOJI[n % EMOJI.length] as string }, done);
            continue;
          }
          kinds.messages++;
          member.send(`s${step}-${sent}`, `${key}:${FILLER}`, done);
        }
        const typingDue = Math.floor((now - start) * typingPerSecond / 1000);
        for (; typed < typingDue; typed++) typist(typed)?.typing?.();
        if (sent >= planned) { resolve(); return; }
        // Wake when the next event is due, not on a fixed tick: fewer wake-ups, sends on time.
        const nextTyping = typingPerSecond > 0 ? start + (typed + 1) * 1000 / typingPerSecond : Infinity;
        setTimeout(tick, Math.min(start + sent * 1000 / rate, nextTyping) - performance.now());
      };
      tick();
    });
    kinds.typingSent = typed;
    // Wait (bounded) for every message to reach every member of its channel.
    const settleUntil = performance.now() + settleMs;
    while (this.complete + sumErrors(errors) < planned && performance.now() < settleUntil) {
      await new Promise((r) => setTimeout(r, 5));
    }
    this.step = -1;
    return {
      sent, acked, errors, complete: this.complete, deliveries: this.deliveries, duplicates: this.duplicates, outOfOrder: this.outOfOrder, late: this.late,
      histogram: hdr.encodeIntoCompressedBase64(this.histogram),
      timeline: this.timeline.map((us) => Math.round(us / 100) / 10),
      ...(mix !== undefined ? { kinds: { ...kinds, typingDelivered: this.typingDelivered } } : {}),
      ...(mix?.updates === true ? { updatesHistogram: hdr.encodeIntoCompressedBase64(this.updatesHistogram) } : {}),
    };
  }

  /** Resolves true once no delivery has arrived for `quietMs` (the system drained its backlog). */
  async quiet(quietMs: number, timeoutMs: number): Promise<boolean> {
    const until = performance.now() + timeoutMs;
    while (performance.now() < until) {
      if (performance.now() - this.lastDeliveryAt >= quietMs) return true;
      await new Promise((r) => setTimeout(r, 20));
    }
    return false;
  }

  /** Opens `count` idle connections, each in one of `channels` channels. */
  async idle(system: SystemKind, url: string, count: number, tag: string, channels: number): Promise<number> {
    for (let i = 0; i < count; i += 100) {
      const batch = Array.from({ length: Math.min(100, count - i) }, (_, j) => connectIdle(system, url, `${tag}-${i + j}`, `idle-${(i + j) % channels}`));
      this.closers.push(...await Promise.all(batch));
    }
    return this.closers.length;
  }

  close(): void {
    for (const m of this.members) m.close();
    for (const c of this.closers) c();
  }

  private received(text: string, seq: number | undefined, member: number): void {
    const now = performance.now();
    this.lastDeliveryAt = now;
    if (seq !== undefined) {
      if (seq < (this.lastSeq[member] as number)) this.outOfOrder++;
      else this.lastSeq[member] = seq;
    }
    const a = text.indexOf(':');
    const b = text.indexOf(':', a + 1);
    const c = text.indexOf(':', b + 1);
    if (Number(text.slice(0, a)) !== this.step) { this.late++; return; }
    const k = Number(text.slice(a + 1, b));
    const scheduledUs = Number(text.slice(b + 1, c));
    const count = ++(this.counts as Uint16Array)[k]!;
    this.deliveries++;
    if (count === this.membersPerChannel) this.complete++;
    else if (count > this.membersPerChannel) this.duplicates++;
    const latencyUs = Math.max(1, Math.round(now * 1000 - scheduledUs));
    if (scheduledUs >= this.timedFromUs) {
      this.histogram.recordValue(latencyUs);
      if (this.isUpdate[k] === 1) this.updatesHistogram.recordValue(latencyUs);
    }
    const bucket = Math.floor((scheduledUs / 1000 - this.stepStart) / 100);
    if (bucket >= 0 && bucket < this.timeline.length && latencyUs > (this.timeline[bucket] as number)) this.timeline[bucket] = latencyUs;
  }
}

function sumErrors(errors: Record<string, number>): number {
  return Object.values(errors).reduce((a, b) => a + b, 0);
}

const loadgen = new Loadgen();
const reply = (r: LoadgenReply): void => { if (process.connected) process.send?.(r); };
process.on('message', (cmd: LoadgenCommand) => {
  const handle = async (): Promise<LoadgenReply | undefined> => {
    switch (cmd.op) {
      case 'connect': return { op: 'connected', connections: await loadgen.connect(cmd.system, cmd.urls, cmd.channels, cmd.members, cmd.tag, cmd.senders, cmd.authSecret) };
      case 'run': return { op: 'ran', report: await loadgen.run(cmd.step, cmd.rate, cmd.durationMs, cmd.settleMs, cmd.rampMs, cmd.mix) };
      case 'quiet': return { op: 'quiet', quiet: await loadgen.quiet(cmd.quietMs, cmd.timeoutMs) };
      case 'idle': return { op: 'idle', connections: await loadgen.idle(cmd.system, cmd.url, cmd.count, cmd.tag, cmd.channels) };
      case 'close': loadgen.close(); process.disconnect?.(); return undefined;
    }
  };
  handle().then((r) => { if (r) reply(r); }, (err: Error) => reply({ op: 'failed', error: err.message }));
});
process.on('disconnect', () => { loadgen.close(); setTimeout(() => process.exit(0), 100).unref(); });
