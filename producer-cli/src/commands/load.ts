import type { Command } from 'commander';
import { InboundQueues, isValidUser } from '@chat/shared';
import { intOption, openContext, out, withCommonOptions } from '../context.js';
import { runLoad, type LoadProgress } from '../load-run.js';

function bar(p: LoadProgress): string {
  const width = 30;
  const done = Math.round((p.sent / p.total) * width);
  const rate = p.elapsedMs > 0 ? (p.acked / p.elapsedMs) * 1000 : 0;
  const eta = rate > 0 ? Math.max(0, (p.total - p.acked) / rate) : 0;
  return `[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${p.sent}/${p.total} sent  ${p.acked} acked  ${p.received} received` +
    `  ${rate.toFixed(0)} msg/s  ETA ${eta.toFixed(1)}s`;
}

export function loadCommand(program: Command): void {
  withCommonOptions(program.command('load'))
    .description('inject messages at a set rate over many channels; --verify measures delivery through push servers')
    .option('--channels <n>', 'number of channels', '10')
    .option('--count <n>', 'messages to send', '1000')
    .option('--rate <n>', 'messages per second (open loop)', '500')
    .option('--size <bytes>', 'text size in bytes', '64')
    .option('--verify <urls>', 'push server URL(s), comma-separated: receive every message through WebSocket clients')
    .option('--author <name>', 'author of the messages', 'load')
    .option('--channel-prefix <prefix>', 'channel names are <prefix>-0, <prefix>-1, …', 'load')
    .option('--timeout <ms>', 'with --verify, how long to wait for deliveries after the last ack', '15000')
    .action(async (opts: Record<string, string>) => {
      const channels = intOption(opts.channels, '--channels', 1, 100_000);
      const count = intOption(opts.count, '--count', 1, 100_000_000);
      const rate = intOption(opts.rate, '--rate', 1, 1_000_000);
      const size = intOption(opts.size, '--size', 1, 1_000_000);
      const timeoutMs = intOption(opts.timeout, '--timeout', 0, 3_600_000);
      if (!isValidUser(opts.author)) throw new Error('--author must be 1-64 characters without control characters');
      if (!/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,50}$/.test(opts.channelPrefix as string)) {
        throw new Error('--channel-prefix must be a valid channel name of at most 51 characters');
      }
      const verify = opts.verify ? opts.verify.split(',').map((u) => u.trim()).filter(Boolean) : [];
      for (const u of verify) if (!/^(ws|http)s?:\/\/[^\s]+$/.test(u)) throw new Error(`--verify ${JSON.stringify(u)} must be a ws:// or http:// URL`);
      const ctx = await openContext(opts);
      if (size > ctx.config.maxTextBytes) {
        await ctx.close();
        throw new Error(`--size ${size} is larger than MAX_TEXT_BYTES (${ctx.config.maxTextBytes})`);
      }
      const queues = new InboundQueues(ctx.redis, ctx.keys, ctx.config.queuePartitions);
      const tty = process.stderr.isTTY && !ctx.json;
      try {
        const summary = await runLoad(queues, {
          channels, count, rate, size, author: opts.author as string, channelPrefix: opts.channelPrefix as string,
          verify, timeoutMs, onProgress: tty ? (p) => process.stderr.write(`\r${bar(p)}`) : undefined,
        });
        if (tty) process.stderr.write('\n');
        if (ctx.json) out(JSON.stringify(summary));
        else {
          out(`sent ${summary.count} messages over ${summary.channels} channels in ${(summary.durationMs / 1000).toFixed(2)} s: ` +
            `${summary.enqueued} enqueued (${summary.enqueueRate} msg/s), ${summary.enqueueErrors} errors`);
          if (summary.verify) {
            const v = summary.verify;
            out(`delivered ${v.received} through ${v.servers.join(', ')}: lost ${v.lost}, duplicates ${v.duplicates}`);
            out(`end-to-end latency ms: p50 ${v.latencyMs.p50}  p90 ${v.latencyMs.p90}  p99 ${v.latencyMs.p99}  max ${v.latencyMs.max}`);
          }
        }
        const problems: string[] = [];
        if (summary.enqueueErrors > 0) problems.push(`${summary.enqueueErrors} messages could not be enqueued (${summary.firstError})`);
        if (summary.verify && summary.verify.lost > 0) problems.push(`${summary.verify.lost} acknowledged messages were not delivered within ${timeoutMs} ms`);
        if (summary.verify && summary.verify.duplicates > 0) problems.push(`${summary.verify.duplicates} messages were delivered twice`);
        if (problems.length > 0) {
          process.stderr.write(`chat-producer: ${problems.join('; ')}\n`);
          process.exitCode = 1;
        }
      } finally {
        await queues.close();
        await ctx.close();
      }
    });
}
