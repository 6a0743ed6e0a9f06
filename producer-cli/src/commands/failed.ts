import type { Command } from 'commander';
import { InboundQueues, type InboundJobData } from '@chat/shared';
import { intOption, openContext, out, withCommonOptions } from '../context.js';

export function failedCommand(program: Command): void {
  withCommonOptions(program.command('failed'))
    .description('list failed inbound jobs; --retry puts them back in their queues')
    .option('--retry', 'retry every listed job (its messages are stored after those queued meanwhile)')
    .option('--limit <n>', 'most jobs to list per partition', '100')
    .action(async (opts: Record<string, string | boolean>) => {
      const limit = intOption(opts.limit, '--limit', 1, 100000);
      const ctx = await openContext(opts);
      const queues = new InboundQueues(ctx.redis, ctx.keys, ctx.config.queuePartitions);
      try {
        const rows = [];
        let retried = 0;
        for (const [partition, queue] of queues.queues.entries()) {
          for (const job of await queue.getFailed(0, limit - 1)) {
            const data = job.data as Partial<InboundJobData>;
            const messages = Array.isArray(data?.messages) ? data.messages : [];
            rows.push({
              partition, jobId: job.id, failedReason: job.failedReason, failedAt: job.finishedOn ?? null,
              messages: messages.length, channels: [...new Set(messages.map((m) => m?.channel))].slice(0, 5),
            });
            if (opts.retry) { await job.retry('failed'); retried++; }
          }
        }
        if (ctx.json) { out(JSON.stringify({ failed: rows, retried })); return; }
        if (rows.length === 0) { out('no failed jobs'); return; }
        for (const r of rows) {
          out(`partition ${r.partition} job ${r.jobId}: ${r.messages} message(s) in ${r.channels.join(', ')}: ${r.failedReason}`);
        }
        out(opts.retry ? `retried ${retried} job(s)` : `${rows.length} failed job(s); run with --retry to queue them again`);
      } finally {
        await queues.close();
        await ctx.close();
      }
    });
}
