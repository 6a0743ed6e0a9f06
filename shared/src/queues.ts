/**
 * The inbound queues as producers see them (push servers and the producer CLI).
 *
 * `InboundQueues.enqueue` keeps order: per partition at most one BullMQ `add` is in flight, and
 * whatever arrives meanwhile goes, in arrival order, into the next job. Under load this batches
 * by itself (fewer, larger jobs); when idle a message waits at most one event-loop turn.
 */
import { Queue, type JobsOptions } from 'bullmq';
import { INBOUND_JOB_NAME, partitionOf, type InboundJobData, type InboundMessage } from './jobs.js';
import type { RedisKeys } from './keys.js';
import type { RedisClient } from './scripts.js';

/** Most messages in one job. */
export const MAX_BATCH_MESSAGES = 256;

/** Job options of every inbound job: completed jobs vanish, failed ones stay for inspection. */
export const INBOUND_JOB_OPTIONS: JobsOptions = {
  removeOnComplete: true,
  removeOnFail: { count: 10000 },
  attempts: 1,
};

interface Waiter { message: InboundMessage; resolve(): void; reject(err: Error): void }

class PartitionProducer {
  private pending: Waiter[] = [];
  private inFlight = false;
  private scheduled = false;

  constructor(readonly queue: Queue) {}

  enqueue(message: InboundMessage): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ message, resolve, reject });
      if (!this.inFlight && !this.scheduled) {
        this.scheduled = true;
        setImmediate(() => { this.scheduled = false; void this.flush(); });
      }
    });
  }

  get backlog(): number { return this.pending.length; }

  get busy(): boolean { return this.inFlight || this.scheduled || this.pending.length > 0; }

  private async flush(): Promise<void> {
    if (this.inFlight || this.pending.length === 0) return;
    this.inFlight = true;
    const batch = this.pending.splice(0, MAX_BATCH_MESSAGES);
    try {
      const data: InboundJobData = { messages: batch.map((w) => w.message) };
      await this.queue.add(INBOUND_JOB_NAME, data);
      for (const w of batch) w.resolve();
    } catch (err) {
      for (const w of batch) w.reject(err as Error);
    } finally {
      this.inFlight = false;
      if (this.pending.length > 0) void this.flush();
    }
  }
}

export class InboundQueues {
  readonly queues: Queue[];
  private readonly producers: PartitionProducer[];

  constructor(connection: RedisClient, readonly keys: RedisKeys, readonly partitions: number) {
    this.queues = Array.from({ length: partitions }, (_, p) => new Queue(keys.queueName(p), {
      connection,
      prefix: keys.queuePrefix(p),
      defaultJobOptions: INBOUND_JOB_OPTIONS,
      streams: { events: { maxLen: 1000 } },
    }));
    this.producers = this.queues.map((q) => new PartitionProducer(q));
  }

  partitionOf(channel: string): number {
    return partitionOf(channel, this.partitions);
  }

  /** Enqueues one message; resolves once the job holding it is in Redis. Order per channel is kept. */
  enqueue(message: InboundMessage): Promise<void> {
    return (this.producers[this.partitionOf(message.channel)] as PartitionProducer).enqueue(message);
  }

  /** Resolves once every message handed to `enqueue` so far is in Redis or has failed. */
  async drain(): Promise<void> {
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
    await Promise.all(this.queues.map((q) => q.close()));
  }
}
