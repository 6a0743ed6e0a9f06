/**
 * A queue worker: one BullMQ Worker per inbound partition, each partition limited to one job in
 * flight across all workers (global concurrency 1) so a channel's messages are stored in queue
 * order. Several worker processes share the partitions by lease (see partition-leases.ts) and
 * take over each other's partitions and jobs when one stops or dies.
 */
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import {
  ChannelStore, checkEvictionPolicy, createRedis, InboundQueues, REDIS_COMMAND_TIMEOUT_MS, RedisClock, RedisWatch, serveMetrics, RedisKeys,
  waitForRedis, type Config,
  pickupNotice, type InboundJobData, type Logger, type RedisClient,
} from '@chat/shared';
import type { Server } from 'node:http';
import { WorkerMetrics } from './metrics.js';
import { PartitionLeases } from './partition-leases.js';
import { InvalidJobError, Persister } from './persister.js';
import { fileURLToPath } from 'node:url';
import { Worker as Thread } from 'node:worker_threads';
import type { ThreadTally } from './webhook-thread.js';

/** A job abandoned by a dead worker is always re-run, never failed for stalling. */
export const MAX_STALLED_COUNT = 1_000_000;
/** How often the live counters for `chat-producer stats` reach Redis. */
const COUNTS_FLUSH_MS = 500;

export class QueueWorker {
  readonly keys: RedisKeys;
  /** Jobs failed by this process (published with the heartbeat for `chat-producer stats`). */
  private failedJobs = 0;
  /** The last BullMQ worker error logged, until a connection is ready again. */
  private lastWorkerError = '';
  private readonly redis: RedisClient;
  private readonly bull: RedisClient;
  private readonly persister: Persister;
  private readonly workers: Worker[] = [];
  private leases: PartitionLeases | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly clock: RedisClock;
  private readonly startedAt = Date.now();
  /** Counters not yet added to the worker's info hash (flushed every COUNTS_FLUSH_MS for `chat-producer stats`). */
  private counts = { jobs: 0, stored: 0, duplicates: 0 };
  private countsTimer: NodeJS.Timeout | undefined;
  private readonly queues: InboundQueues;
  /**
   * Whether Redis answers. A worker cut off from it can do nothing: it says so once and on
   * /ready, and its partitions go to a standby when their leases expire (LEASE_MS).
   */
  private readonly watch: RedisWatch;
  readonly metrics: WorkerMetrics;
  private metricsServer: Server | undefined;
  /** The webhook dispatcher's thread, when webhooks are on (see webhook-thread.ts). */
  private webhooks: Thread | undefined;
  private stopping = false;
  /** The metrics port once serving. */
  metricsPort: number | undefined;

  constructor(private readonly config: Config, private readonly logger: Logger) {
    this.keys = new RedisKeys(config.redisPrefix, config.redisCluster);
    this.redis = createRedis(config, { name: `worker:${config.serverId}`, logger, commandTimeoutMs: REDIS_COMMAND_TIMEOUT_MS });
    this.bull = createRedis(config, { name: `worker-bull:${config.serverId}`, logger, autoPipelining: false });
    this.clock = new RedisClock(this.redis);
    this.persister = new Persister(new ChannelStore(this.redis, this.keys, config.retentionMs, config.webhookUrl !== undefined), config.workerConcurrency, logger);
    this.queues = new InboundQueues(this.bull, this.keys, config.queuePartitions);
    this.metrics = new WorkerMetrics(this.queues);
    this.metrics.watchWebhooks(this.redis, this.keys);
    this.watch = new RedisWatch(this.redis, config.redisCutoffMs, () => undefined, logger, {
      cutOff: 'cut off from Redis: storing nothing; another worker takes over this worker\'s partitions',
      restored: 'Redis answers again',
    });
  }

  async start(): Promise<void> {
    await waitForRedis(this.redis, this.config.redisUrl, 10_000);
    await checkEvictionPolicy(this.redis, this.logger);
    for (const client of [this.redis, this.bull]) {
      let lost = false;
      client.on('close', () => { lost = true; });
      client.on('ready', () => { if (lost) this.metrics.redisReconnects.inc(); lost = false; this.lastWorkerError = ''; });
    }
    if (this.config.metricsPort !== undefined) {
      const served = await serveMetrics(this.metrics.registry, this.config.metricsPort, this.config.host,
        () => (this.watch.answering ? undefined : 'Redis does not answer'));
      this.metricsServer = served.server;
      this.metricsPort = served.port;
    }
    for (let p = 0; p < this.config.queuePartitions; p++) {
      const name = this.keys.queueName(p);
      const queue = new Queue(name, { connection: this.bull, prefix: this.keys.queuePrefix(p) });
      // Per-channel order rests on this: one job of a partition in flight at a time.
      await queue.setGlobalConcurrency(1);
      await queue.close();
      const worker = new Worker(name, (job: Job) => this.process(job, p), {
        connection: this.bull,
        prefix: this.keys.queuePrefix(p),
        concurrency: 1,
        autorun: false,
        maxStalledCount: MAX_STALLED_COUNT,
        stalledInterval: this.config.stalledIntervalMs,
        lockDuration: this.config.stalledIntervalMs,
        removeOnComplete: { count: 0 },
        removeOnFail: { count: 10000 },
      });
      worker.on('failed', (job, err) => {
        this.failedJobs++;
        this.metrics.jobsFailed.inc();
        this.logger.error('job failed', { queue: name, jobId: job?.id, error: err.message });
      });
      worker.on('error', (err) => {
        // BullMQ repeats a connection's error on each reconnect attempt, for every partition.
        if (err.message !== this.lastWorkerError) this.logger.warn('worker error', { queue: name, error: err.message });
        this.lastWorkerError = err.message;
      });
      this.workers.push(worker);
    }
    await Promise.all(this.workers.map((w) => w.waitUntilReady()));
    await this.beat();
    this.watch.start();
    if (this.config.webhookUrl !== undefined) this.startWebhooks();
    // Consume only the partitions this worker holds the lease of; stand by for the others.
    this.leases = new PartitionLeases(this.redis, this.keys, this.config.serverId, this.config.queuePartitions, {
      acquired: (p) => { void this.workers[p]?.resume(); },
      lost: async (p) => { await this.workers[p]?.pause(); },
    }, this.logger);
    await this.leases.start();
    this.heartbeat = setInterval(() => { this.beat().catch(() => undefined); }, this.config.heartbeatMs);
    this.heartbeat.unref();
    this.countsTimer = setInterval(() => this.flushCounts(), COUNTS_FLUSH_MS);
    this.countsTimer.unref();
    this.logger.info('worker ready', { partitions: this.config.queuePartitions, consuming: this.leases.held, metricsPort: this.metricsPort });
  }

  /** Finishes the jobs in flight (at most `timeoutMs`), then disconnects. */
  async stop(timeoutMs = 10_000): Promise<boolean> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.countsTimer) clearInterval(this.countsTimer);
    this.watch.stop();
    this.stopping = true;
    const webhooksStopped = this.stopWebhooks();
    const closing = Promise.all(this.workers.map((w) => w.close())).then(() => true);
    const finished = await Promise.race([closing, new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs).unref())]);
    // Only once its jobs are done (or given up on) may another worker take the partitions.
    await this.leases?.stop();
    // A webhook request in flight ends within its 5 s timeout; its lease lapses if we exit first.
    await Promise.race([webhooksStopped, new Promise((r) => setTimeout(r, 6000).unref())]);
    await Promise.all([
      this.redis.zrem(this.keys.workers(), this.config.serverId),
      this.redis.del(this.keys.workerInfo(this.config.serverId)),
    ]).catch(() => undefined);
    this.metricsServer?.close();
    await this.queues.close().catch(() => undefined);
    await Promise.allSettled([this.redis.quit(), this.bull.quit()]);
    return finished;
  }

  /**
   * Runs the webhook dispatcher in its own thread, so that its requests and Redis reads never
   * hold up storing and routing; restarted a second after it dies.
   */
  private startWebhooks(): void {
    const thread = new Thread(fileURLToPath(new URL('./webhook-thread.js', import.meta.url)), { workerData: { config: this.config } });
    this.webhooks = thread;
    thread.on('message', (m: ThreadTally) => {
      if (m.kind !== 'tally') return;
      this.metrics.webhookEvents.inc(m.delivered);
      this.metrics.webhookFailed.inc(m.failed);
      for (const [result, seconds] of m.requests) {
        this.metrics.webhookRequests.inc({ result });
        this.metrics.webhookLatency.observe(seconds);
      }
    });
    thread.on('error', (err) => this.logger.error('webhook dispatcher failed', { error: err.message }));
    thread.on('exit', () => {
      if (this.webhooks !== thread || this.stopping) return;
      this.logger.warn('webhook dispatcher thread ended: restarting it in 1 s');
      setTimeout(() => { if (!this.stopping) this.startWebhooks(); }, 1000).unref();
    });
  }

  /** Asks the dispatcher thread to finish its requests (at most their 5 s timeout), then ends it. */
  private async stopWebhooks(): Promise<void> {
    const thread = this.webhooks;
    if (!thread) return;
    const exited = new Promise<void>((r) => thread.once('exit', () => r()));
    thread.postMessage('stop');
    const timer = setTimeout(() => { void thread.terminate(); }, 6000);
    await exited;
    clearTimeout(timer);
  }

  private async process(job: Job, partition: number): Promise<void> {
    const done = this.metrics.jobDuration.startTimer();
    const origin = (job.data as InboundJobData | undefined)?.origin;
    if (origin && typeof origin.server === 'string' && Number.isInteger(origin.batch)) {
      // The producer may now send its next batch, which will wait behind this job.
      const channel = this.keys.pickupChannel(partition, origin.server);
      const notice = pickupNotice(partition, origin.batch);
      (this.keys.sharded ? this.redis.spublish(channel, notice) : this.redis.publish(channel, notice)).catch(() => undefined);
    }
    try {
      const result = await this.persister.persist(job.data);
      done();
      const now = Date.now();
      for (const m of (job.data as InboundJobData).messages) {
        if (typeof m.receivedAt === 'number') this.metrics.endToEnd.observe(Math.max(0, now - m.receivedAt) / 1000);
      }
      this.metrics.jobs.inc();
      this.metrics.stored.inc(result.stored);
      this.metrics.duplicates.inc(result.duplicates);
      this.metrics.dropped.inc(result.dropped);
      this.counts.jobs++;
      this.counts.stored += result.stored;
      this.counts.duplicates += result.duplicates;
    } catch (err) {
      if (err instanceof InvalidJobError) throw new UnrecoverableError(`invalid job data: ${err.message}`);
      throw err;
    }
  }

  /** Adds the counts since the last flush to the info hash; best effort, never holds a job back. */
  private flushCounts(): void {
    const { jobs, stored, duplicates } = this.counts;
    if (jobs === 0) return;
    this.counts = { jobs: 0, stored: 0, duplicates: 0 };
    const info = this.keys.workerInfo(this.config.serverId);
    void Promise.all([
      this.redis.hincrby(info, 'jobs', jobs),
      this.redis.hincrby(info, 'stored', stored),
      this.redis.hincrby(info, 'duplicates', duplicates),
    ]).catch(() => undefined);
  }

  private async beat(): Promise<void> {
    await this.clock.sync();
    const now = this.clock.now();
    const lifetime = 3 * this.config.heartbeatMs;
    const info = this.keys.workerInfo(this.config.serverId);
    await Promise.all([
      this.redis.zadd(this.keys.workers(), now + lifetime, this.config.serverId),
      this.redis.zremrangebyscore(this.keys.workers(), '-inf', now),
      this.redis.pexpire(this.keys.workers(), lifetime),
      this.redis.hset(info, { failed: this.failedJobs, pid: process.pid, startedAt: this.startedAt, heartbeatAt: now }),
      this.redis.pexpire(info, lifetime),
    ]);
  }
}
