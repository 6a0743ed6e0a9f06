import type { Command } from 'commander';
import { intOption, openContext, out, withCommonOptions } from '../context.js';

interface FailedBatch { channel: string; events: Array<{ id: string; type: string }>; error: string; failedAt: number; attempts: number }

export function webhooksCommand(program: Command): void {
  withCommonOptions(program.command('webhooks'))
    .description('list webhook batches given up after 24 h of retries; --retry queues them again')
    .option('--retry', 'put every listed batch back at the head of its channel\'s outbox (sent before the channel\'s newer events)')
    .option('--limit <n>', 'most batches to list', '100')
    .action(async (opts: Record<string, string | boolean>) => {
      const limit = intOption(opts.limit, '--limit', 1, 100000);
      const ctx = await openContext(opts);
      try {
        const { redis, keys } = ctx;
        const raw = await redis.lrange(keys.hooksFailed(), 0, limit - 1);
        const batches = raw.map((r) => JSON.parse(r) as FailedBatch);
        let retried = 0;
        if (opts.retry) {
          for (const [i, b] of batches.entries()) {
            // Back in front of the channel's outbox, oldest first, then off the failed list.
            const events = b.events.map((e) => JSON.stringify(e)).reverse();
            if (events.length > 0) await redis.lpush(keys.channelHooks(b.channel), ...events);
            await redis.zadd(keys.hooksDue(), 'LT', Date.now(), b.channel);
            await redis.lrem(keys.hooksFailed(), 1, raw[i] as string);
            retried++;
          }
        }
        if (ctx.json) { out(JSON.stringify({ failed: batches, retried })); return; }
        if (batches.length === 0) { out('no failed webhook deliveries'); return; }
        for (const b of batches) {
          out(`${new Date(b.failedAt).toISOString()} ${b.channel}: ${b.events.length} event(s) after ${b.attempts} attempts: ${b.error}`);
        }
        out(opts.retry ? `queued ${retried} batch(es) again` : `${batches.length} failed batch(es); run with --retry to queue them again`);
      } finally {
        await ctx.close();
      }
    });
}
