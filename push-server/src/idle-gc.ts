/**
 * A full garbage collection when the push server is nearly idle, so that its memory is what its
 * connections hold rather than what they once made.
 *
 * A push server mostly holds idle connections, and their small routine work (pings and pongs,
 * heartbeats, presence) makes short-lived objects that the young generation promotes into the old
 * space. V8 collects the old space when it grows, which at a low allocation rate takes minutes: in
 * that time resident memory per idle connection rose from 9.0 to 9.8 KB in 40 s (15,000
 * connections, 4.5 KB of them live; bench/README.md, the optimisation log). So when
 * the event loop has been busy less than IDLE_GC_MAX_UTILIZATION of the last IDLE_GC_WINDOW_MS and
 * the heap grew by IDLE_GC_MIN_GROWTH_BYTES since the last collection, this runs one, at most once
 * per IDLE_GC_MIN_INTERVAL_MS, and a second in the next window if the loop is still idle: the
 * first frees the garbage, but V8 hands the emptied pages back to the system only at a later
 * collection (one alone left resident memory where it was; two brought 9.2 KB per connection
 * down to 7.4). A collection pauses the process, about 75 ms at 15,000 connections here; a loop
 * this idle has next to nothing waiting on it, and a busy server never collects here.
 *
 * The collector comes from V8 itself (`--expose-gc`, set for one new context and unset again),
 * or from `globalThis.gc` when the process was started with that flag.
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';

/** How often the loop's utilization is looked at; also the window it is measured over. */
export const IDLE_GC_WINDOW_MS = 5000;
/** Busy at most this fraction of the window counts as idle. */
export const IDLE_GC_MAX_UTILIZATION = 0.05;
/** Heap growth since the last collection below which one is not worth its pause. */
export const IDLE_GC_MIN_GROWTH_BYTES = 8 * 1024 * 1024;
/** Least time between two idle collections. */
export const IDLE_GC_MIN_INTERVAL_MS = 30_000;

export interface IdleGcOptions {
  /** The collector; default V8's own (fullCollector), false for none (then nothing runs). */
  collector?: (() => void) | false;
  windowMs?: number;
  maxUtilization?: number;
  minGrowthBytes?: number;
  minIntervalMs?: number;
  /** Called after each collection with its pause in seconds and the heap in use after it. */
  collected?(pauseSeconds: number, heapUsedBytes: number): void;
}

/** V8's collector as a function; undefined if this V8 refuses to hand it out. */
export function fullCollector(): (() => void) | undefined {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (typeof exposed === 'function') return exposed;
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? gc as () => void : undefined;
  } catch {
    return undefined;
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
}

export class IdleGc {
  private timer: NodeJS.Timeout | undefined;
  private last: EventLoopUtilization | undefined;
  private usedAfterLast = 0;
  private lastAt = -Infinity;
  /** The last collection freed space; the next idle window collects again to hand it back. */
  private followUp = false;
  private readonly windowMs: number;
  private readonly maxUtilization: number;
  private readonly minGrowthBytes: number;
  private readonly minIntervalMs: number;

  private readonly gc: (() => void) | undefined;

  constructor(private readonly options: IdleGcOptions = {}) {
    this.gc = options.collector === false ? undefined : options.collector ?? fullCollector();
    this.windowMs = options.windowMs ?? IDLE_GC_WINDOW_MS;
    this.maxUtilization = options.maxUtilization ?? IDLE_GC_MAX_UTILIZATION;
    this.minGrowthBytes = options.minGrowthBytes ?? IDLE_GC_MIN_GROWTH_BYTES;
    this.minIntervalMs = options.minIntervalMs ?? IDLE_GC_MIN_INTERVAL_MS;
  }

  /** Whether collections can run at all (the collector was available). */
  get available(): boolean {
    return this.gc !== undefined;
  }

  start(): void {
    if (!this.gc || this.timer) return;
    this.last = performance.eventLoopUtilization();
    this.timer = setInterval(() => this.tick(), this.windowMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Looks at the window just ended; collects if it was idle and worth it. Returns whether it collected. */
  tick(): boolean {
    const now = performance.now();
    const since = performance.eventLoopUtilization(this.last);
    this.last = performance.eventLoopUtilization();
    if (!this.gc || since.utilization > this.maxUtilization) { this.followUp = false; return false; }
    const followUp = this.followUp;
    if (!followUp && now - this.lastAt < this.minIntervalMs) return false;
    if (!followUp && v8.getHeapStatistics().used_heap_size - this.usedAfterLast < this.minGrowthBytes) return false;
    const start = performance.now();
    this.gc();
    const pause = (performance.now() - start) / 1000;
    this.usedAfterLast = v8.getHeapStatistics().used_heap_size;
    this.lastAt = now;
    this.followUp = !followUp;
    // The pause itself must not count as the next window's work.
    this.last = performance.eventLoopUtilization();
    this.options.collected?.(pause, this.usedAfterLast);
    return true;
  }
}
