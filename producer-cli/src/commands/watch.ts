import type { Command } from 'commander';
import WebSocket from 'ws';
import { Chat } from '@chat/client';
import { ChannelStore, type ChannelEvent, type SocketLike } from '@chat/shared';
import { channelOption, intOption, openContext, out, withCommonOptions } from '../context.js';
import { formatMessage } from './history.js';

export function watchCommand(program: Command): void {
  withCommonOptions(program.command('watch'))
    .description('print a channel\'s messages as they arrive (through a push server with --url, else from Redis)')
    .requiredOption('--channel <name>', 'chat channel')
    .option('--url <url>', 'a push server to watch through, e.g. ws://127.0.0.1:8080')
    .option('--count <n>', 'exit after this many live messages')
    .option('--history <n>', 'print this many stored messages first (Redis mode)', '10')
    .action(async (opts: Record<string, string>) => {
      const channel = channelOption(opts.channel);
      const max = opts.count === undefined ? Infinity : intOption(opts.count, '--count', 1);
      const json = Boolean(opts.json);
      let seen = 0;
      const print = (m: ChannelEvent, live: boolean): boolean => {
        out(json ? JSON.stringify(m) : formatMessage(m));
        if (live) seen++;
        return seen >= max;
      };
      if (opts.url) {
        await watchThroughServer(opts.url, channel, print);
        return;
      }
      const ctx = await openContext(opts);
      try {
        const store = new ChannelStore(ctx.redis, ctx.keys, ctx.config.retentionMs);
        const first = await store.read(channel, { last: intOption(opts.history, '--history', 0, 1000) });
        for (const f of first.frames) print(JSON.parse(f) as ChannelEvent, false);
        let seq = first.seq;
        process.stderr.write(`watching ${channel} after seq ${seq} (Ctrl-C stops)\n`);
        let stop = false;
        process.once('SIGINT', () => { stop = true; });
        while (!stop) {
          const read = await store.read(channel, { since: seq });
          for (const f of read.frames) {
            const m = JSON.parse(f) as ChannelEvent;
            seq = Math.max(seq, m.seq);
            if (print(m, true)) { stop = true; break; }
          }
          if (read.frames.length === 0) {
            if (read.seq < seq) seq = read.seq; // the channel expired and started over
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      } finally {
        await ctx.close();
      }
    });
}

async function watchThroughServer(url: string, channel: string, print: (m: ChannelEvent, live: boolean) => boolean): Promise<void> {
  // Through the client library: a dropped connection is resumed with since, nothing printed twice.
  const chat = new Chat({ urls: [url], user: `watch-${process.pid}`, socket: (u) => new WebSocket(u) as unknown as SocketLike, connectTimeoutMs: 5000 });
  chat.on('state', (s) => { if (s.state === 'reconnecting') process.stderr.write(`${s.reason}\n`); });
  try {
    await Promise.race([chat.connect(), new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 5 s')), 5000))]);
  } catch (err) {
    await chat.close();
    throw new Error(`cannot connect to ${url} (${(err as Error).message}): check --url`);
  }
  const ch = chat.channel(channel);
  await new Promise<void>((resolve, reject) => {
    ch.on('message', (m) => { if (print(m, true)) resolve(); });
    ch.on('update', (u) => { if (print(u, true)) resolve(); });
    ch.on('error', (e) => reject(new Error(`${e.code}: ${e.message}`)));
    process.once('SIGINT', () => resolve());
    ch.join().then((h) => {
      for (const m of h.messages) print(m, false);
      process.stderr.write(`watching ${channel} after seq ${h.seq} through ${url} (Ctrl-C stops)\n`);
    }, reject);
  });
  await chat.close();
}
