import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { InboundQueues, isValidUser, MAX_ID_LENGTH, utf8Length } from '@chat/shared';
import { channelOption, openContext, out, withCommonOptions } from '../context.js';

export function sendCommand(program: Command): void {
  withCommonOptions(program.command('send'))
    .description('enqueue one message (stored and delivered like any other)')
    .requiredOption('--channel <name>', 'chat channel')
    .requiredOption('--text <text>', 'message text')
    .option('--author <name>', 'author name', 'producer')
    .option('--id <id>', 'message id: a retry with the same id and author is stored once')
    .action(async (opts: Record<string, string>) => {
      const channel = channelOption(opts.channel);
      if (!isValidUser(opts.author)) throw new Error('--author must be 1-64 characters without control characters');
      if (opts.id !== undefined && (opts.id.length === 0 || opts.id.length > MAX_ID_LENGTH)) {
        throw new Error(`--id must be 1 to ${MAX_ID_LENGTH} characters`);
      }
      const ctx = await openContext(opts);
      try {
        if (utf8Length(opts.text as string) > ctx.config.maxTextBytes) {
          throw new Error(`--text is longer than MAX_TEXT_BYTES (${ctx.config.maxTextBytes} bytes)`);
        }
        const queues = new InboundQueues(ctx.redis, ctx.keys, ctx.config.queuePartitions);
        const id = opts.id ?? `cli-${randomUUID()}`;
        await queues.enqueue({ channel, id, author: opts.author as string, text: opts.text as string, receivedAt: Date.now() });
        await queues.close();
        out(ctx.json ? JSON.stringify({ queued: true, id, channel }) : `queued ${id} in ${channel}`);
      } finally {
        await ctx.close();
      }
    });
}
