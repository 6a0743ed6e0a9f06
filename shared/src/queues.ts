/**
 * The inbound queues as producers see them (push servers and the producer CLI).
 *
 * `InboundQueues.enqueue` keeps order: per partition at most one BullMQ `add` is in flight, and
 * whatever arrives meanwhile goes, in arrival order, into the next job.
 *
 * A producer with an inbox (a push server) batches harder: per partition it keeps at most one
 * of its jobs *waiting* in the queue. A worker that takes a job announces it on the producer's
 * inbox (`pickupNotice`); until then new messages gather into the next job. So the number of
 * jobs follows what the workers can take, not how fast Redis answers an add: when idle a message
 * goes out at once, under load each job carries everything that arrived during the previous
 * one. A notice that never comes (a lost subscription, a dead worker) holds a batch at most
 * `MAX_PICKUP_WAIT_MS`; the queue keeps the order either way.
 */
import { Queue, type JobsOptions } from 'bullmq';
import { INBOUND_JOB_NAME, partitionOf, type InboundJobData, type InboundMessage } from './jobs.js';
import type { RedisKeys } from './keys.js';
import type { RedisClient } from './scripts.js';

/** Most messages in one job. */
export const MAX_BATCH_MESSAGES = 256;

/** Longest a batch waits for the pickup notice of the producer's previous job. */
export const MAX_PICKUP_WAIT_MS = 50;

/** Job options of every inbound job: completed jobs vanish, failed ones stay for inspection. */
export const INBOUND_JOB_OPTIONS: JobsOptions = {
  removeOnComplete: true,
  removeOnFail: { count: 10000 },
  attempts: 1,
};

/** The inbox payload a worker publishes when it takes a job: `q`, partition, batch number. */
export function pickupNotice(partition: number, batch: number): string {
  return `q\n${partition}\n${batch}`;
}

/** Parses a pickup notice; undefined when the payload is not one. */
export function parsePickupNotice(payload: string): { partition: number; batch: number } | undefined {
  const m = /^q\n(\d+)\n(\d+)$/.exec(payload);
  return m ? { partition: Number(m[1]), batch: Number(m[2]) } : undefined;
}

interface Waiter { message: InboundMessage; resolve(): void; reject(err: Error): void }

class PartitionProducer {
  private pending: Waiter[] = [];
  private inFlight = false;
  private scheduled = false;
  private batches = 0;
  /** The last job added to the queue, and when its add was confirmed. */
  private addedUpTo = 0;
  private addedAt = 0;
  /** The last job a worker announced taking. */
  private pickedUpUpTo = 0;
  private holdTimer: NodeJS.Timeout | undefined;
  private holdUntil = 0;
  private lastAddAt = 0;
  /** Set by `drain`/`stop`: nothing is held any more. */
  draining = false;

  constructor(
    readonly queue: Queue, readonly partition: number,
    private readonly origin: string | undefined, private readonly lingerMs: number,
  ) {}

  enqueue(message: InboundMessage): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ message, resolve, reject });
      this.schedule();
    });
  }

  /** A worker took our job `batch` (or a later one): the next batch may go. */
  pickedUp(batch: number): void {
    if (batch <= this.pickedUpUpTo) return;
    this.pickedUpUpTo = batch;
    this.schedule();
  }

  /** How much longer our last job may hold the next batch: it waits in the queue, untaken. */
  private pickupWait(now: number): number {
    if (this.origin === undefined || this.addedUpTo <= this.pickedUpUpTo) return 0;
    return MAX_PICKUP_WAIT_MS - (now - this.addedAt);
  }

  get backlog(): number { return this.pending.length; }

  get busy(): boolean { return this.inFlight || this.scheduled || this.pending.length > 0; }

  schedule(): void {
    if (this.inFlight || this.scheduled || this.pending.length === 0) return;
    const now = Date.now();
    const heldFor = this.draining ? 0 : Math.max(this.pickupWait(now), this.lingerMs - (now - this.lastAddAt));
    if (heldFor > 0) {
      // Keep a timer that fires soon enough; a pickup notice can only bring the time forward.
      if (this.holdTimer && this.holdUntil <= now + heldFor) return;
      if (this.holdTimer) clearTimeout(this.holdTimer);
      this.holdUntil = now + heldFor;
      this.holdTimer = setTimeout(() => { this.holdTimer = undefined; this.schedule(); }, heldFor);
      return;
    }
    if (this.holdTimer) { clearTimeout(this.holdTimer); this.holdTimer = undefined; }
    this.scheduled = true;
    setImmediate(() => { this.scheduled = false; void this.flush(); });
  }

  stop(): void {
    this.draining = true;
    if (this.holdTimer) { clearTimeout(this.holdTimer); this.holdTimer = undefined; }
  }

  private async flush(): Promise<void> {
    if (this.inFlight || this.pending.length === 0) return;
    this.inFlight = true;
    const batch = this.pending.splice(0, MAX_BATCH_MESSAGES);
    const number = ++this.batches;
    this.lastAddAt = Date.now();
    try {
      const data: InboundJobData = { messages: batch.map((w) => w.message) };
      if (this.origin !== undefined) data.origin = { server: this.origin, batch: number };
      await this.queue.add(INBOUND_JOB_NAME, data);
      this.addedUpTo = number;
      this.addedAt = Date.now();
      for (const w of batch) w.resolve();
    } catch (err) {
      for (const w of batch) w.reject(err as Error);
    } finally {
      this.inFlight = false;
      this.schedule();
    }
  }
}

export interface InboundQueuesOptions {
  /** The producer's server id: workers announce pickups on its inbox (see `pickupNotice`). */
  origin?: string;
  /** Least time between two jobs of one partition: a busy partition batches at least this long. */
  lingerMs?: number;
}

export class InboundQueues {
  readonly queues: Queue[];
  private readonly producers: PartitionProducer[];

  constructor(connection: RedisClient, readonly keys: RedisKeys, readonly partitions: number, options: InboundQueuesOptions = {}) {
    this.queues = Array.from({ length: partitions }, (_, p) => new Queue(keys.queueName(p), {
      connection,
      prefix: keys.queuePrefix(p),
      defaultJobOptions: INBOUND_JOB_OPTIONS,
      streams: { events: { maxLen: 1000 } },
    }));
    // A Queue re-emits its connection's errors, and prints them raw with no listener; the
    // connection itself logs each one once (createRedis).
    for (const q of this.queues) q.on('error', () => undefined);
    this.producers = this.queues.map((q, p) => new PartitionProducer(q, p, options.origin, options.lingerMs ?? 0));
  }

  partitionOf(channel: string): number {
    return partitionOf(channel, this.partitions);
  }

  /** Enqueues one message; resolves once the job holding it is in Redis. Order per channel is kept. */
  enqueue(message: InboundMessage): Promise<void> {
    return (this.producers[this.partitionOf(message.channel)] as PartitionProducer).enqueue(message);
  }

  /** Handles a pickup notice from this producer's inbox. */
  pickedUp(partition: number, batch: number): void {
    this.producers[partition]?.pickedUp(batch);
  }

  /** Resolves once every message handed to `enqueue` so far is in Redis or has failed. */
  async drain(): Promise<void> {
    for (const p of this.producers) { p.draining = true; p.schedule(); }
    while (this.producers.some((p) => p.busy)) await new Promise((r) => setTimeout(r, 10));
  }

  /** Messages accepted but not yet handed to Redis. */
  get backlog(): number {
    return this.producers.reduce((n, p) => n + p.backlog, 0);
  }

  /** Job counts summed over the partitions. */
  async counts(): Promise<Record<'waiting' | 'active' | 'delayed' | 'failed' | 'completed', number>> {
    const all = await Promise.all(this.queues.map((q) => q.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed')));
    const sum = { waiting: 0, active: 0, delayed: 0, failed: 0, completed: 0 };
    for (const c of all) for (const k of Object.keys(sum) as (keyof typeof sum)[]) sum[k] += c[k] ?? 0;
    return sum;
  }

  async close(): Promise<void> {
    for (const p of this.producers) p.stop();
    await Promise.all(this.queues.map((q) => q.close()));
  }
}
