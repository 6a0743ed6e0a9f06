/**
 * Back-pressure at the edge: a message is enqueued only while Redis is connected and its queue
 * partition is below the high-water mark, and an enqueue that Redis does not confirm in time is
 * answered `overloaded`. A client never gets a false ack; one that retries with the same id after
 * `overloaded` is stored once even if the first attempt did land.
 */
import type { InboundMessage, InboundQueues, Logger, RedisClient } from '@chat/shared';

/** The message was not enqueued; the client may retry later with the same id. */
export class OverloadedError extends Error {
  override name = 'OverloadedError';
}

/** Messages held in memory waiting for their add beyond which new ones are refused. */
export const MAX_LOCAL_BACKLOG = 50_000;
export const ENQUEUE_TIMEOUT_MS = 5000;
const POLL_MS = 500;

export class Admission {
  private readonly full = new Set<number>();
  /** Waiting jobs over all partitions at the last poll. */
  waiting = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly queues: InboundQueues,
    private readonly highWater: number,
    private readonly logger: Logger,
    /** False while Redis does not answer (a network that stopped answering leaves the connection "ready"). */
    private readonly answering: () => boolean = () => true,
  ) {}

  start(): void {
    this.timer = setInterval(() => { void this.poll(); }, POLL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Partitions currently refusing messages. */
  get fullPartitions(): number[] {
    return [...this.full];
  }

  enqueue(message: InboundMessage): Promise<void> {
    if (this.redis.status !== 'ready' || !this.answering()) {
      return Promise.reject(new OverloadedError('the server cannot reach Redis right now: retry shortly with the same id'));
    }
    if (this.full.has(this.queues.partitionOf(message.channel)) || this.queues.backlog >= MAX_LOCAL_BACKLOG) {
      return Promise.reject(new OverloadedError('the queue is full: retry shortly with the same id'));
    }
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new OverloadedError('the queue did not confirm in time: retry with the same id')), ENQUEUE_TIMEOUT_MS);
      this.queues.enqueue(message).then(
        () => { clearTimeout(timer); resolve(); },
        (err: Error) => { clearTimeout(timer); reject(err); },
      );
    });
  }

  private async poll(): Promise<void> {
    if (this.redis.status !== 'ready') return;
    try {
      const counts = await Promise.all(this.queues.queues.map((q) => q.getWaitingCount()));
      this.waiting = counts.reduce((a, b) => a + b, 0);
      counts.forEach((n, p) => {
        const wasFull = this.full.has(p);
        if (n >= this.highWater) this.full.add(p); else this.full.delete(p);
        if (wasFull !== this.full.has(p)) {
          this.logger.warn(wasFull ? 'queue partition below high water again' : 'queue partition full: answering overloaded', { partition: p, waiting: n });
        }
      });
    } catch (err) {
      this.logger.debug('queue depth poll failed', { error: (err as Error).message });
    }
  }
}
