/**
 * The open-loop rate sweep against one running system. Each rate runs `repeats` times and is
 * reported by the median of the repeats (with the spread of p99), so one pause on a noisy
 * machine does not decide a verdict. The rate steps upward until the system no longer keeps up
 * (median p50 past the keep-up bound, or messages not delivered), then bisection narrows two
 * limits: the highest rate that *held* (median p99 ≤ the bound, nothing lost or doubled in any
 * repeat) and the highest the system *kept up with* (median p50 ≤ the keep-up bound, nothing
 * lost: no growing backlog). Deliveries out of seq order are counted and reported beside the
 * limits (a system that breaks order is marked, not excluded).
 */
import * as hdr from 'hdr-histogram-js';
import { newHistogram } from './histogram.js';
import type { Mix, Senders, StepReport } from './loadgen.js';
import type { Loadgens } from './loadgens.js';
import { cpuSnapshot, type Tracked } from './proc-stats.js';
import type { RunningSystem } from './systems.js';

export interface SweepPlan {
  channels: number;
  members: number;
  /** Every member sends in turn, or one busy sender per channel. */
  senders: Senders;
  /** Runs per rate; the rate is reported by their median. */
  repeats: number;
  /** A step keeps up when its median p50 is at most this and nothing is lost. */
  keepUpP50Ms: number;
  rates: number[];
  stepMs: number;
  /** Longer steps at these rates (the fixed loads the targets are stated at). */
  longStepMs: number;
  longRates: number[];
  settleMs: number;
  /** The start of each step is sent but not timed (the jump from idle to the rate). */
  rampMs: number;
  /** A step holds when p99 is at most this and nothing is lost. */
  p99BoundMs: number;
  /** Bisection steps for each limit (held, kept up) between the last rate that met it and the first that did not. */
  refine: number;
  /** The mixed load: 70 % messages, 20 % reactions, 10 % edits, every member typing once a second (ours only). */
  mix?: Mix;
}

export interface StepResult {
  rate: number;
  durationMs: number;
  sent: number;
  deliveries: number;
  /** Messages that did not reach every member within the settle time, or were refused. */
  lost: number;
  errors: Record<string, number>;
  duplicates: number;
  /** Deliveries below a seq the member had already seen (systems that number events). */
  outOfOrder: number;
  /** Medians over the repeats. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Lowest and highest p99 of the repeats. */
  p99SpreadMs: [number, number];
  repeats: number;
  deliveriesPerSecond: number;
  held: boolean;
  keptUp: boolean;
  /** Worst latency (ms) per 100 ms of the step, over the load generators. */
  timeline: number[];
  /** Mixed load: events by kind, typing notices sent and delivered. */
  kinds?: StepReport['kinds'];
  /** Mixed load: p50 and p99 of the updates alone (edits and reactions). */
  updatesMs?: { p50: number; p99: number };
  /** The system's own counters per second over the step (webhook events delivered). */
  perSecond?: Record<string, number>;
  /** CPU seconds per 1,000 messages, per process and per role. */
  cpuPer1000: Record<string, number>;
  cpuPer1000ByRole: Record<string, number>;
}

export interface SweepResult {
  id: string;
  label: string;
  steps: StepResult[];
  /** Highest rate that held, and its deliveries per second. */
  maxSustained: { messagesPerSecond: number; deliveriesPerSecond: number } | null;
  /** Highest rate the system kept up with (median p50 within the keep-up bound, nothing lost). */
  maxKeptUp: number | null;
  /** The load shape this sweep ran. */
  shape?: string;
}

export interface ConnectedLoad {
  connections: number;
  /** Each load generator's share of the channels: it sends that share of the rate. */
  shares: number[];
}

export async function connectLoad(system: RunningSystem, loadgens: Loadgens, plan: SweepPlan): Promise<ConnectedLoad> {
  const n = loadgens.procs.length;
  const channelsOf = (i: number): string[] => Array.from({ length: plan.channels }, (_, c) => `bench-${c}`).filter((_, c) => c % n === i);
  const answers = await loadgens.all((i) => ({
    op: 'connect', system: system.kind, urls: system.urls, members: plan.members, tag: `u${i}`, senders: plan.senders, channels: channelsOf(i),
    ...(system.authSecret === undefined ? {} : { authSecret: system.authSecret }),
  }), 'connected');
  return {
    connections: answers.reduce((a, r) => a + r.connections, 0),
    shares: loadgens.procs.map((_, i) => channelsOf(i).length / plan.channels),
  };
}

let stepCounter = 0;
/** The lowest rate the sweep looks at when even its first rate does not hold. */
const MIN_RATE = 250;

/** Runs one rate `plan.repeats` times and reports the median (see `combine`). */
export async function runRate(
  system: RunningSystem, loadgens: Loadgens, load: ConnectedLoad, rate: number, durationMs: number, plan: SweepPlan,
): Promise<StepResult> {
  const runs: StepResult[] = [];
  for (let i = 0; i < plan.repeats; i++) runs.push(await runStep(system, loadgens, load, rate, durationMs, plan));
  return combine(runs, plan);
}

/** The two verdicts of a step (one run, or the median of the repeats), by one rule. */
function verdicts(s: Pick<StepResult, 'lost' | 'duplicates' | 'deliveries' | 'p50Ms' | 'p99Ms'>, plan: SweepPlan): Pick<StepResult, 'held' | 'keptUp'> {
  const delivered = s.lost === 0 && s.deliveries > 0;
  return { held: delivered && s.duplicates === 0 && s.p99Ms <= plan.p99BoundMs, keptUp: delivered && s.p50Ms <= plan.keepUpP50Ms };
}

type Kinds = NonNullable<StepReport['kinds']>;

/** Mixed-load event counts summed over reports (or repeats); undefined when none has any. */
function sumKinds(list: Array<Kinds | undefined>): Kinds | undefined {
  const present = list.filter((k): k is Kinds => k !== undefined);
  if (present.length === 0) return undefined;
  return present.reduce((acc, k) => {
    for (const key of Object.keys(acc) as Array<keyof Kinds>) acc[key] += k[key];
    return acc;
  }, { messages: 0, reactions: 0, edits: 0, typingSent: 0, typingDelivered: 0 });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)] as number;
};

/**
 * The repeats of one rate as one step: median p50, p99 and max (the lower middle of an even
 * count), their p99 spread, and losses, duplicates and order violations summed: one repeat that
 * loses or doubles anything fails the rate.
 */
function combine(runs: StepResult[], plan: SweepPlan): StepResult {
  const first = runs[0] as StepResult;
  const sum = (f: (s: StepResult) => number): number => runs.reduce((a, s) => a + f(s), 0);
  const errors: Record<string, number> = {};
  for (const r of runs) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
  const averaged = (f: (s: StepResult) => Record<string, number>): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const r of runs) for (const [k, v] of Object.entries(f(r))) out[k] = round((out[k] ?? 0) + v / runs.length, 4);
    return out;
  };
  const p99s = runs.map((s) => s.p99Ms);
  const lost = sum((s) => s.lost);
  const duplicates = sum((s) => s.duplicates);
  const outOfOrder = sum((s) => s.outOfOrder);
  const deliveries = sum((s) => s.deliveries);
  const p50Ms = median(runs.map((s) => s.p50Ms));
  const p99Ms = median(p99s);
  const kinds = sumKinds(runs.map((r) => r.kinds));
  const updates = runs.map((r) => r.updatesMs).filter((u) => u !== undefined);
  const updatesMs = updates.length > 0 ? { p50: median(updates.map((u) => u.p50)), p99: median(updates.map((u) => u.p99)) } : undefined;
  const perSecond = runs.every((r) => r.perSecond) ? averaged((r) => r.perSecond ?? {}) : undefined;
  return {
    rate: first.rate, durationMs: first.durationMs, sent: sum((s) => s.sent), deliveries, lost, errors, duplicates, outOfOrder,
    p50Ms, p99Ms, maxMs: median(runs.map((s) => s.maxMs)), p99SpreadMs: [Math.min(...p99s), Math.max(...p99s)], repeats: runs.length,
    deliveriesPerSecond: Math.round(median(runs.map((s) => s.deliveriesPerSecond))),
    ...verdicts({ lost, duplicates, deliveries, p50Ms, p99Ms }, plan),
    timeline: runs.map((r) => r.timeline).sort((a, b) => Math.max(...a) - Math.max(...b))[Math.floor((runs.length - 1) / 2)] ?? [],
    ...(kinds ? { kinds } : {}), ...(updatesMs ? { updatesMs } : {}), ...(perSecond ? { perSecond } : {}),
    cpuPer1000: averaged((r) => r.cpuPer1000), cpuPer1000ByRole: averaged((r) => r.cpuPer1000ByRole),
  };
}

export async function runStep(
  system: RunningSystem, loadgens: Loadgens, load: ConnectedLoad, rate: number, durationMs: number, plan: SweepPlan,
): Promise<StepResult> {
  const tracked: Tracked[] = [...system.procs, ...loadgens.tracked];
  const step = ++stepCounter;
  const before = cpuSnapshot(tracked);
  const countersBefore = system.counters?.();
  const startedAt = Date.now();
  const reports = (await loadgens.all((i) => ({
    op: 'run', step, rate: rate * (load.shares[i] ?? 0), durationMs, settleMs: plan.settleMs, rampMs: plan.rampMs, mix: plan.mix,
  }), 'ran')).map((r) => r.report);
  const after = cpuSnapshot(tracked);
  const countersAfter = system.counters?.();
  const seconds = (Date.now() - startedAt) / 1000;
  await loadgens.all(() => ({ op: 'quiet', quietMs: 300, timeoutMs: 60_000 }), 'quiet');
  const result = summarise(rate, durationMs, reports, tracked, before, after, plan);
  if (countersBefore && countersAfter) {
    result.perSecond = Object.fromEntries(Object.entries(countersAfter).map(([k, v]) => [k, Math.round((v - (countersBefore[k] ?? 0)) / seconds)]));
  }
  return result;
}

function summarise(
  rate: number, durationMs: number, reports: StepReport[], tracked: Tracked[],
  before: Map<string, number>, after: Map<string, number>, plan: SweepPlan,
): StepResult {
  const histogram = newHistogram();
  const updates = newHistogram();
  const errors: Record<string, number> = {};
  let sent = 0; let complete = 0; let deliveries = 0; let duplicates = 0; let outOfOrder = 0;
  for (const r of reports) {
    histogram.add(hdr.decodeFromCompressedBase64(r.histogram));
    if (r.updatesHistogram !== undefined) updates.add(hdr.decodeFromCompressedBase64(r.updatesHistogram));
    sent += r.sent; complete += r.complete; deliveries += r.deliveries; duplicates += r.duplicates; outOfOrder += r.outOfOrder;
    for (const [code, count] of Object.entries(r.errors)) errors[code] = (errors[code] ?? 0) + count;
  }
  const thousands = Math.max(sent, 1) / 1000;
  const cpuPer1000: Record<string, number> = {};
  const cpuPer1000ByRole: Record<string, number> = {};
  for (const p of tracked) {
    const used = (after.get(p.name) ?? 0) - (before.get(p.name) ?? 0);
    cpuPer1000[p.name] = round(used / thousands, 4);
    cpuPer1000ByRole[p.role] = round((cpuPer1000ByRole[p.role] ?? 0) + used / thousands, 4);
  }
  const ms = (us: number): number => round(us / 1000, 2);
  const lost = sent - complete;
  const timeline = (reports.find((r) => r.sent > 0)?.timeline ?? []).map((_, i) => Math.max(...reports.map((r) => r.timeline[i] ?? 0)));
  const p50Ms = ms(histogram.getValueAtPercentile(50));
  const p99Ms = ms(histogram.getValueAtPercentile(99));
  const kinds = sumKinds(reports.map((r) => r.kinds));
  const updatesMs = reports.some((r) => r.updatesHistogram !== undefined)
    ? { p50: ms(updates.getValueAtPercentile(50)), p99: ms(updates.getValueAtPercentile(99)) } : undefined;
  return {
    ...(kinds ? { kinds } : {}), ...(updatesMs ? { updatesMs } : {}),
    rate, durationMs, sent, deliveries, lost, errors, duplicates, outOfOrder,
    p50Ms, p99Ms, maxMs: ms(histogram.maxValue), p99SpreadMs: [p99Ms, p99Ms], repeats: 1,
    deliveriesPerSecond: Math.round(deliveries / (durationMs / 1000)),
    ...verdicts({ lost, duplicates, deliveries, p50Ms, p99Ms }, plan),
    timeline, cpuPer1000, cpuPer1000ByRole,
  };
}

export async function sweep(
  system: RunningSystem, loadgens: Loadgens, load: ConnectedLoad, plan: SweepPlan, log: (line: string) => void,
): Promise<SweepResult> {
  const steps: StepResult[] = [];
  const run = async (rate: number): Promise<StepResult> => {
    const durationMs = plan.longRates.includes(rate) ? plan.longStepMs : plan.stepMs;
    const s = await runRate(system, loadgens, load, rate, durationMs, plan);
    steps.push(s);
    log(`  ${system.label.padEnd(28)} ${String(rate).padStart(6)} msg/s  p50 ${fmt(s.p50Ms)}  p99 ${fmt(s.p99Ms)} ` +
      `(${s.p99SpreadMs.map((v) => v.toFixed(1)).join('–')})  max ${fmt(s.maxMs)}  lost ${s.lost}` +
      `${s.duplicates ? ` dup ${s.duplicates}` : ''}${s.outOfOrder ? ` out-of-order ${s.outOfOrder}` : ''}` +
      `${Object.keys(s.errors).length ? ` errors ${JSON.stringify(s.errors)}` : ''}  ${s.held ? 'held' : s.keptUp ? 'kept up' : 'NOT kept up'}` +
      `${s.perSecond ? `  ${Object.entries(s.perSecond).map(([k, v]) => `${k} ${v}/s`).join('  ')}` : ''}`);
    return s;
  };
  for (const rate of plan.rates) {
    const s = await run(rate);
    if (!s.keptUp) break;
  }
  // Nothing held: look downward, halving, so the system still gets a limit.
  for (let rate = Math.floor((plan.rates[0] ?? 0) / 2); steps.every((s) => !s.held) && rate >= MIN_RATE; rate = Math.floor(rate / 2)) {
    await run(rate);
  }
  // Narrow each limit: between the highest rate that met it and the lowest above it that did not.
  for (const met of [(s: StepResult) => s.held, (s: StepResult) => s.keptUp]) {
    for (let i = 0; i < plan.refine; i++) {
      const good = steps.filter(met).map((s) => s.rate);
      if (good.length === 0) break;
      const last = Math.max(...good);
      const above = steps.filter((s) => !met(s) && s.rate > last).map((s) => s.rate);
      if (above.length === 0) break;
      const mid = Math.round((last + Math.min(...above)) / 2 / 100) * 100;
      if (mid <= last || mid >= Math.min(...above) || steps.some((s) => s.rate === mid)) break;
      await run(mid);
    }
  }
  steps.sort((a, b) => a.rate - b.rate);
  const best = steps.filter((s) => s.held).sort((a, b) => b.rate - a.rate)[0];
  const kept = steps.filter((s) => s.keptUp).sort((a, b) => b.rate - a.rate)[0];
  return {
    id: system.id,
    label: system.label,
    steps,
    maxSustained: best ? { messagesPerSecond: best.rate, deliveriesPerSecond: best.deliveriesPerSecond } : null,
    maxKeptUp: kept ? kept.rate : null,
  };
}

function fmt(ms: number): string {
  return `${ms.toFixed(1)} ms`.padStart(9);
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
