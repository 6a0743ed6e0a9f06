import type { Command } from 'commander';
import { ChannelStore, historyFrame, type ChannelEvent } from '@chat/shared';
import { channelOption, intOption, openContext, out, withCommonOptions } from '../context.js';

/** One line per event: a message in its current state, or an update naming its target. */
export function formatMessage(m: ChannelEvent): string {
  const head = `#${m.seq} ${new Date(m.timestamp).toISOString()} ${m.author}`;
  if (m.type === 'update') {
    const what = m.action === 'edit' ? `: ${m.text ?? ''}` : m.action === 'delete' ? '' : ` ${m.emoji ?? ''}`;
    return `${head} ${m.action} #${m.target}${what}`;
  }
  if (m.deleted) return `${head}: (deleted)`;
  const reactions = Object.entries(m.reactions ?? {}).map(([emoji, names]) => `${emoji} ${names.length}`).join(' ');
  return `${head}: ${m.text}${m.edited ? ' (edited)' : ''}${reactions ? `  [${reactions}]` : ''}`;
}

export function historyCommand(program: Command): void {
  withCommonOptions(program.command('history'))
    .description('print a channel\'s latest stored messages, oldest first')
    .requiredOption('--channel <name>', 'chat channel')
    .option('--limit <n>', 'how many of the latest messages (1-1000)', '10')
    .option('--since <seq>', 'every retained message after this seq instead (at most --limit)')
    .action(async (opts: Record<string, string>) => {
      const channel = channelOption(opts.channel);
      const limit = intOption(opts.limit, '--limit', 1, 1000);
      const since = opts.since === undefined ? undefined : intOption(opts.since, '--since', 0);
      const ctx = await openContext(opts);
      try {
        const store = new ChannelStore(ctx.redis, ctx.keys, ctx.config.retentionMs);
        const read = await store.read(channel, since === undefined ? { last: limit } : { since, cap: limit });
        const frame = historyFrame(channel, read);
        if (ctx.json) { out(JSON.stringify(frame)); return; }
        for (const m of frame.messages) out(formatMessage(m));
        out(`(${frame.messages.length} shown; latest seq ${frame.seq}${frame.complete ? '' : '; incomplete: older messages were trimmed or the limit cut the list'})`);
      } finally {
        await ctx.close();
      }
    });
}
