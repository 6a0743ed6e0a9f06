/**
 * Which worker consumes which queue partition. Every partition already runs one job at a time
 * (BullMQ global concurrency 1, which keeps each channel's order); without an owner, every idle
 * worker would still wake up for every job and try to take it, only to find the partition busy.
 * A lease gives each partition one consuming worker; the others stand by and take the partition
 * over within `LEASE_MS` when its owner stops or dies. Leases only save work: global concurrency
 * still guards the order if two workers ever consume one partition at once.
 *
 * Partitions are shared out fairly: a worker holds at most ceil(partitions / live workers), and
 * gives one back per tick when it holds more (a worker joined). Workers count as live while they
 * renew their entry in a set every tick, so a dead one stops counting within `LEASE_MS`.
 */
import { callScript, RedisClock, type Logger, type RedisClient, type RedisKeys } from '@chat/shared';

/** How long a lease outlives its owner's last renewal: the longest a dead worker's partition waits. */
export const LEASE_MS = 2000;
/** How often leases are renewed and free partitions looked for. */
export const LEASE_TICK_MS = 500;

export interface LeaseEvents {
  /** This worker now owns partition `p`: start consuming it. */
  acquired(partition: number): void;
  /** This worker must stop consuming `p`; resolves once it has (its job in flight finished). */
  lost(partition: number): Promise<void>;
}

export class PartitionLeases {
  private readonly owned = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private readonly clock: RedisClock;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly workerId: string,
    private readonly partitions: number,
    private readonly events: LeaseEvents,
    private readonly logger: Logger,
  ) {
    this.clock = new RedisClock(redis);
  }

  /** Takes what this worker may take now, then keeps the leases on a timer. */
  async start(): Promise<void> {
    await this.tick();
    this.timer = setInterval(() => {
      this.ticking ??= this.tick()
        .catch((err: Error) => { this.logger.warn('partition lease tick failed', { error: err.message }); })
        .finally(() => { this.ticking = undefined; });
    }, LEASE_TICK_MS);
    this.timer.unref();
  }

  /** Partitions this worker consumes. */
  get held(): number[] {
    return [...this.owned].sort((a, b) => a - b);
  }

  private async tick(): Promise<void> {
    for (const p of [...this.owned]) {
      const renewed = Number(await callScript<number>(this.redis, 'chatRenewLease', [this.keys.partitionLease(p)], [this.workerId, LEASE_MS]));
      if (renewed !== 1) {
        this.owned.delete(p);
        this.logger.warn('lost the lease of a partition', { partition: p });
        await this.events.lost(p);
      }
    }
    await this.clock.sync();
    const now = this.clock.now();
    const candidates = this.keys.leaseCandidates();
    const [, , , live] = await Promise.all([
      this.redis.zadd(candidates, now + LEASE_MS, this.workerId),
      this.redis.zremrangebyscore(candidates, '-inf', now),
      this.redis.pexpire(candidates, LEASE_MS * 2),
      this.redis.zcount(candidates, now, '+inf'),
    ]);
    const share = Math.ceil(this.partitions / Math.max(1, live));
    if (this.owned.size > share) {
      const p = Math.max(...this.owned);
      this.owned.delete(p);
      await this.events.lost(p);
      await this.release(p);
      this.logger.info('gave a partition back for another worker', { partition: p });
      return;
    }
    for (let p = 0; p < this.partitions && this.owned.size < share; p++) {
      if (this.owned.has(p)) continue;
      const taken = await this.redis.set(this.keys.partitionLease(p), this.workerId, 'PX', LEASE_MS, 'NX');
      if (taken === 'OK') {
        this.owned.add(p);
        this.logger.info('took a partition', { partition: p });
        this.events.acquired(p);
      }
    }
  }

  private async release(p: number): Promise<void> {
    await callScript<number>(this.redis, 'chatReleaseLease', [this.keys.partitionLease(p)], [this.workerId]);
  }

  /** Stops renewing and gives every lease back (after the caller stopped consuming). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.ticking;
    await Promise.all([
      ...[...this.owned].map((p) => this.release(p)),
      this.redis.zrem(this.keys.leaseCandidates(), this.workerId),
    ].map((done) => done.catch(() => undefined)));
    this.owned.clear();
  }
}
