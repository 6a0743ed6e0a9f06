import type { Command } from 'commander';
import { InboundQueues, RedisClock, type RedisClient, type RedisKeys } from '@chat/shared';
import { intOption, openContext, out, withCommonOptions } from '../context.js';

export interface StatsSnapshot {
  at: number;
  queue: Record<'waiting' | 'active' | 'delayed' | 'failed' | 'completed', number>;
  pushServers: Array<{ id: string; connections: number; channels: number; host: string; port: number; pid: number }>;
  /** `partitions`: the queue partitions the worker consumes (it holds their lease); none: it stands by. */
  workers: Array<{ id: string; jobs: number; stored: number; duplicates: number; failed: number; pid: number; partitions: number[] }>;
  channels: Array<{ name: string; members: number; seq: number }>;
  /** Webhook deliveries: channels with events to send, channels retrying a batch, batches given up. */
  webhooks: { pending: number; retrying: number; failed: number };
}

async function live(redis: RedisClient, key: string, now: number): Promise<string[]> {
  return redis.zrangebyscore(key, now, '+inf');
}

export async function snapshot(redis: RedisClient, keys: RedisKeys, queues: InboundQueues): Promise<StatsSnapshot> {
  const clock = new RedisClock(redis);
  await clock.sync();
  const now = clock.now();
  const [queue, serverIds, workerIds] = await Promise.all([
    queues.counts(), live(redis, keys.pushServers(), now), live(redis, keys.workers(), now),
  ]);
  const members = new Map<string, number>();
  const pushServers = await Promise.all(serverIds.map(async (id) => {
    const [info, channels] = await Promise.all([redis.hgetall(keys.serverInfo(id)), redis.hgetall(keys.serverChannels(id))]);
    for (const [name, n] of Object.entries(channels)) members.set(name, (members.get(name) ?? 0) + Number(n));
    return {
      id, connections: Number(info.connections ?? 0), channels: Object.keys(channels).length,
      host: info.host ?? '?', port: Number(info.port ?? 0), pid: Number(info.pid ?? 0),
    };
  }));
  const owners = await Promise.all(Array.from({ length: queues.partitions }, (_, p) => redis.get(keys.partitionLease(p))));
  const workers = await Promise.all(workerIds.map(async (id) => {
    const info = await redis.hgetall(keys.workerInfo(id));
    return {
      id, jobs: Number(info.jobs ?? 0), stored: Number(info.stored ?? 0), duplicates: Number(info.duplicates ?? 0),
      failed: Number(info.failed ?? 0), pid: Number(info.pid ?? 0),
      partitions: owners.flatMap((owner, p) => (owner === id ? [p] : [])),
    };
  }));
  const [pending, retrying, failed] = await Promise.all([redis.zcard(keys.hooksDue()), redis.hlen(keys.hooksRetry()), redis.llen(keys.hooksFailed())]);
  const busiest = [...members].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 10);
  const seqs = await Promise.all(busiest.map(([name]) => redis.get(keys.channelSeq(name))));
  return {
    at: now,
    queue,
    pushServers: pushServers.sort((a, b) => a.id.localeCompare(b.id)),
    workers: workers.sort((a, b) => a.id.localeCompare(b.id)),
    channels: busiest.map(([name, n], i) => ({ name, members: n, seq: Number(seqs[i] ?? 0) })),
    webhooks: { pending, retrying, failed },
  };
}

/** Messages and jobs per second between two snapshots, over the workers alive in both. */
export function rates(before: StatsSnapshot, after: StatsSnapshot): { storedPerSec: number; jobsPerSec: number } {
  const seconds = Math.max(0.001, (after.at - before.at) / 1000);
  let stored = 0;
  let jobs = 0;
  for (const w of after.workers) {
    const prev = before.workers.find((p) => p.id === w.id);
    if (!prev) continue;
    stored += w.stored - prev.stored;
    jobs += w.jobs - prev.jobs;
  }
  return { storedPerSec: stored / seconds, jobsPerSec: jobs / seconds };
}

export function statsCommand(program: Command): void {
  withCommonOptions(program.command('stats'))
    .description('queue depth and rates, live push servers and workers, busiest channels, webhook deliveries')
    .option('--interval <ms>', 'measure rates over this long (and refresh this often with --watch)', '1000')
    .option('--watch', 'refresh until Ctrl-C')
    .option('--times <n>', 'with --watch, stop after this many refreshes')
    .action(async (opts: Record<string, string>) => {
      const interval = intOption(opts.interval, '--interval', 100, 60_000);
      const times = opts.watch ? (opts.times === undefined ? Infinity : intOption(opts.times, '--times', 1)) : 1;
      const ctx = await openContext(opts);
      const queues = new InboundQueues(ctx.redis, ctx.keys, ctx.config.queuePartitions);
      let stop = false;
      process.once('SIGINT', () => { stop = true; });
      try {
        let first = await snapshot(ctx.redis, ctx.keys, queues);
        for (let i = 0; i < times && !stop; i++) {
          await new Promise((r) => setTimeout(r, interval));
          const second = await snapshot(ctx.redis, ctx.keys, queues);
          const lines = render(second, rates(first, second), ctx.json);
          if (opts.watch && process.stdout.isTTY && !ctx.json) process.stdout.write('\x1b[2J\x1b[H');
          for (const line of lines) out(line);
          if (opts.watch && !ctx.json) out(`(refreshing every ${interval} ms; Ctrl-C stops)`);
          first = second;
        }
      } finally {
        await queues.close();
        await ctx.close();
      }
    });
}

function render(second: StatsSnapshot, r: ReturnType<typeof rates>, json: boolean): string[] {
  if (json) return [JSON.stringify({ ...second, rates: r })];
  const lines: string[] = [];
  const out = (line: string): void => { lines.push(line); };
  const q = second.queue;
  out(`queue       waiting ${q.waiting}  active ${q.active}  delayed ${q.delayed}  failed ${q.failed}` +
    `  stored ${r.storedPerSec.toFixed(1)} msg/s  jobs ${r.jobsPerSec.toFixed(1)}/s`);
  out(`push servers (${second.pushServers.length})`);
  for (const s of second.pushServers) out(`  ${s.id}  ${s.host}:${s.port}  ${s.connections} connections  ${s.channels} channels`);
  out(`workers (${second.workers.length})`);
  for (const w of second.workers) {
    const role = w.partitions.length > 0 ? `consumes partition${w.partitions.length > 1 ? 's' : ''} ${w.partitions.join(', ')}` : 'stands by';
    out(`  ${w.id}  ${role}  jobs ${w.jobs}  stored ${w.stored}  duplicates ${w.duplicates}  failed ${w.failed}`);
  }
  out('busiest channels');
  if (second.channels.length === 0) out('  (none with members)');
  for (const c of second.channels) out(`  ${c.name}  ${c.members} members  seq ${c.seq}`);
  const h = second.webhooks;
  out(`webhooks: ${h.pending} channels pending, ${h.retrying} retrying, ${h.failed} failed${h.failed > 0 ? ' (chat-producer webhooks --retry)' : ''}`);
  return lines;
}
