/**
 * The open-loop rate sweep against one running system: steps the rate upward until p99 passes
 * the stop bound or messages stop arriving, then narrows the step between the last rate that
 * held (p99 ≤ the target bound, nothing lost) and the first that did not.
 */
import * as hdr from 'hdr-histogram-js';
import { newHistogram } from './histogram.js';
import type { StepReport } from './loadgen.js';
import type { Loadgens } from './loadgens.js';
import { cpuSnapshot, type Tracked } from './proc-stats.js';
import type { RunningSystem } from './systems.js';

export interface SweepPlan {
  channels: number;
  members: number;
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
  /** The sweep stops once p99 passes this. */
  stopP99Ms: number;
  /** Bisection steps between the last rate that held and the first that did not. */
  refine: number;
  /** The mixed load: 70 % messages, 20 % reactions, 10 % edits, two typing frames per event (ours only). */
  mix?: boolean;
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
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  deliveriesPerSecond: number;
  held: boolean;
  /** Worst latency (ms) per 100 ms of the step, over the load generators. */
  timeline: number[];
  /** Mixed load: events by kind, typing notices sent and delivered. */
  kinds?: StepReport['kinds'];
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
}

export async function connectLoad(system: RunningSystem, loadgens: Loadgens, plan: SweepPlan): Promise<number> {
  const n = loadgens.procs.length;
  const answers = await loadgens.all((i) => ({
    op: 'connect', system: system.kind, urls: system.urls, members: plan.members, tag: `u${i}`,
    channels: Array.from({ length: plan.channels }, (_, c) => `bench-${c}`).filter((_, c) => c % n === i),
  }), 'connected');
  return answers.reduce((a, r) => a + r.connections, 0);
}

let stepCounter = 0;
/** The lowest rate the sweep looks at when even its first rate does not hold. */
const MIN_RATE = 250;

export async function runStep(
  system: RunningSystem, loadgens: Loadgens, rate: number, durationMs: number, plan: SweepPlan,
): Promise<StepResult> {
  const tracked: Tracked[] = [...system.procs, ...loadgens.tracked];
  const n = loadgens.procs.length;
  const step = ++stepCounter;
  const before = cpuSnapshot(tracked);
  const countersBefore = system.counters?.();
  const startedAt = Date.now();
  const reports = (await loadgens.all(() => ({
    op: 'run', step, rate: rate / n, durationMs, settleMs: plan.settleMs, rampMs: plan.rampMs, mix: plan.mix,
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
  const errors: Record<string, number> = {};
  let sent = 0; let complete = 0; let deliveries = 0; let duplicates = 0;
  for (const r of reports) {
    histogram.add(hdr.decodeFromCompressedBase64(r.histogram));
    sent += r.sent; complete += r.complete; deliveries += r.deliveries; duplicates += r.duplicates;
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
  const timeline = (reports[0]?.timeline ?? []).map((_, i) => Math.max(...reports.map((r) => r.timeline[i] ?? 0)));
  const p99Ms = ms(histogram.getValueAtPercentile(99));
  const withKinds = reports.filter((r) => r.kinds);
  const kinds = withKinds.length === 0 ? undefined : withKinds.reduce((acc, r) => {
    for (const k of Object.keys(acc) as Array<keyof typeof acc>) acc[k] += r.kinds?.[k] ?? 0;
    return acc;
  }, { messages: 0, reactions: 0, edits: 0, typingSent: 0, typingDelivered: 0 });
  return {
    ...(kinds ? { kinds } : {}),
    rate, durationMs, sent, deliveries, lost, errors, duplicates,
    p50Ms: ms(histogram.getValueAtPercentile(50)), p99Ms, maxMs: ms(histogram.maxValue),
    deliveriesPerSecond: Math.round(deliveries / (durationMs / 1000)),
    held: lost === 0 && duplicates === 0 && p99Ms <= plan.p99BoundMs && deliveries > 0,
    timeline, cpuPer1000, cpuPer1000ByRole,
  };
}

export async function sweep(
  system: RunningSystem, loadgens: Loadgens, plan: SweepPlan, log: (line: string) => void,
): Promise<SweepResult> {
  const steps: StepResult[] = [];
  const run = async (rate: number): Promise<StepResult> => {
    const durationMs = plan.longRates.includes(rate) ? plan.longStepMs : plan.stepMs;
    const s = await runStep(system, loadgens, rate, durationMs, plan);
    steps.push(s);
    log(`  ${system.label.padEnd(28)} ${String(rate).padStart(6)} msg/s  p50 ${fmt(s.p50Ms)}  p99 ${fmt(s.p99Ms)}  max ${fmt(s.maxMs)}` +
      `  lost ${s.lost}${Object.keys(s.errors).length ? ` errors ${JSON.stringify(s.errors)}` : ''}  ${s.held ? 'held' : 'NOT held'}` +
      `${s.perSecond ? `  ${Object.entries(s.perSecond).map(([k, v]) => `${k} ${v}/s`).join('  ')}` : ''}`);
    return s;
  };
  for (const rate of plan.rates) {
    const s = await run(rate);
    if (s.p99Ms > plan.stopP99Ms || s.lost > 0) break;
  }
  // Nothing held: look downward, halving, so the system still gets a limit.
  for (let rate = Math.floor((plan.rates[0] ?? 0) / 2); steps.every((s) => !s.held) && rate >= MIN_RATE; rate = Math.floor(rate / 2)) {
    await run(rate);
  }
  // Narrow the limit: between the highest rate that held and the lowest above it that did not.
  for (let i = 0; i < plan.refine; i++) {
    const held = steps.filter((s) => s.held).map((s) => s.rate);
    if (held.length === 0) break;
    const lastHeld = Math.max(...held);
    const above = steps.filter((s) => !s.held && s.rate > lastHeld).map((s) => s.rate);
    if (above.length === 0) break;
    const mid = Math.round((lastHeld + Math.min(...above)) / 2 / 100) * 100;
    if (mid <= lastHeld || mid >= Math.min(...above)) break;
    await run(mid);
  }
  steps.sort((a, b) => a.rate - b.rate);
  const best = steps.filter((s) => s.held).sort((a, b) => b.rate - a.rate)[0];
  return {
    id: system.id,
    label: system.label,
    steps,
    maxSustained: best ? { messagesPerSecond: best.rate, deliveriesPerSecond: best.deliveriesPerSecond } : null,
  };
}

function fmt(ms: number): string {
  return `${ms.toFixed(1)} ms`.padStart(9);
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
