/**
 * Worker-tier capacity: drain a pre-loaded backlog with 1, 2 and 4 workers and report msg/s and
 * CPU per process. The workers start first and take their partitions while the queue is paused
 * (BullMQ `pause`); the backlog is enqueued, in jobs of a realistic size, and the clock starts at
 * `resume`. It stops when every message is stored (each channel's seq reached its count).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { InboundQueues, RedisKeys, type InboundMessage } from '@chat/shared';
import { RedisServer } from '../../test/dist/helpers/redis-server.js';
import { startWorker, type ProgramProcess } from '../../test/dist/helpers/programs.js';
import { cpuSnapshot, type Tracked } from './proc-stats.js';

export interface DrainResult {
  partitions: number;
  workers: number;
  messages: number;
  channels: number;
  seconds: number;
  messagesPerSecond: number;
  /** CPU cores used over the drain, per process (worker-1…, redis). */
  cores: Record<string, number>;
  /** CPU seconds per 1,000 messages by role. */
  cpuPer1000ByRole: Record<string, number>;
}

export interface DrainPlan {
  messages: number;
  channels: number;
  /** Messages per job, as a push server under load would batch them. */
  perJob: number;
}

/** Waits until every worker holds a lease: `{chat:qP}:owner` set for every partition. */
async function leasesTaken(redis: Redis, partitions: number, workers: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const owners = await Promise.all(Array.from({ length: partitions }, (_, p) => redis.get(`{chat:q${p}}:owner`)));
    if (owners.every((o) => o !== null) && new Set(owners).size === Math.min(workers, partitions)) return;
    await sleep(100);
  }
  throw new Error(`the ${workers} workers did not share the ${partitions} partitions within 20 s`);
}

export async function drainOnce(partitions: number, workers: number, plan: DrainPlan): Promise<DrainResult> {
  const server = await RedisServer.start();
  const procs: ProgramProcess[] = [];
  const redis = new Redis(server.url);
  const keys = new RedisKeys();
  const queues = new InboundQueues(redis, keys, partitions);
  try {
    const env = { REDIS_URL: server.url, QUEUE_PARTITIONS: String(partitions) };
    procs.push(...await Promise.all(Array.from({ length: workers }, () => startWorker(env))));
    await leasesTaken(redis, partitions, workers);
    await Promise.all(queues.queues.map((q) => q.pause()));
    const counts = new Map<string, number>();
    // Each round fills one job per partition (about `perJob` messages each).
    for (let done = 0; done < plan.messages; done += plan.perJob * partitions) {
      const batch: InboundMessage[] = [];
      for (let i = done; i < Math.min(plan.messages, done + plan.perJob * partitions); i++) {
        const channel = `drain-${i % plan.channels}`;
        counts.set(channel, (counts.get(channel) ?? 0) + 1);
        batch.push({ channel, id: `d-${i}`, author: `user-${i % 97}`, text: `backlog message ${i} ${'x'.repeat(40)}`, receivedAt: Date.now() });
      }
      await Promise.all(batch.map((m) => queues.enqueue(m)));
    }
    const tracked: Tracked[] = [
      ...procs.map((w, i) => ({ role: 'worker', name: `worker-${i + 1}`, pid: w.pid })),
      { role: 'redis', name: 'redis', pid: server.pid },
    ];
    const before = cpuSnapshot(tracked);
    const started = performance.now();
    await Promise.all(queues.queues.map((q) => q.resume()));
    const channels = [...counts.keys()];
    for (;;) {
      const seqs = await redis.mget(channels.map((c) => keys.channelSeq(c)));
      if (seqs.every((s, i) => Number(s) >= (counts.get(channels[i] as string) as number))) break;
      await sleep(20);
    }
    const seconds = (performance.now() - started) / 1000;
    const after = cpuSnapshot(tracked);
    const cores: Record<string, number> = {};
    const byRole: Record<string, number> = {};
    for (const p of tracked) {
      const used = (after.get(p.name) ?? 0) - (before.get(p.name) ?? 0);
      cores[p.name] = Math.round((used / seconds) * 100) / 100;
      byRole[p.role] = Math.round(((byRole[p.role] ?? 0) + used / (plan.messages / 1000)) * 1000) / 1000;
    }
    return {
      partitions, workers, messages: plan.messages, channels: plan.channels, seconds: Math.round(seconds * 100) / 100,
      messagesPerSecond: Math.round(plan.messages / seconds), cores, cpuPer1000ByRole: byRole,
    };
  } finally {
    await queues.close().catch(() => undefined);
    redis.disconnect();
    await Promise.all(procs.map((w) => w.kill()));
    await server.stop();
  }
}
