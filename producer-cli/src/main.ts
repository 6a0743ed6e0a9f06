/**
 * chat-producer: the operators' CLI. This version has `send` and `history`; load, stats and
 * watch follow.
 */
import { randomUUID } from 'node:crypto';
import { Command } from 'commander';
import {
  addSettingOptions, ChannelStore, createRedis, fail, historyFrame, InboundQueues, isValidChannel, isValidUser,
  loadConfig, RedisKeys, settingFlags, utf8Length, waitForRedis, type SettingKey,
} from '@chat/shared';

const KEYS: SettingKey[] = ['redisUrl', 'redisCluster', 'redisPrefix', 'queuePartitions', 'retentionMs', 'maxTextBytes'];

const program = new Command('chat-producer')
  .description('Inject messages into the chat pipeline and read its state.')
  .showHelpAfterError('(run chat-producer --help for usage)');

function common(cmd: Command): Command {
  return addSettingOptions(cmd, KEYS).option('--json', 'print machine-readable JSON');
}

async function connect(opts: Record<string, unknown>) {
  const config = loadConfig({ flags: settingFlags(opts, KEYS), role: 'producer' });
  const redis = createRedis(config, { name: 'producer', maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  await waitForRedis(redis, config.redisUrl, 3000);
  return { config, redis, keys: new RedisKeys(config.redisPrefix) };
}

common(program.command('send'))
  .description('enqueue one message')
  .requiredOption('--channel <name>', 'chat channel')
  .requiredOption('--text <text>', 'message text')
  .option('--author <name>', 'author name', 'producer')
  .option('--id <id>', 'message id (a retry with the same id is stored once)')
  .action(async (opts: Record<string, string>) => {
    if (!isValidChannel(opts.channel)) throw new Error(`--channel ${JSON.stringify(opts.channel)} is not a valid channel name`);
    if (!isValidUser(opts.author)) throw new Error('--author must be 1-64 characters without control characters');
    const { config, redis, keys } = await connect(opts);
    if (utf8Length(opts.text as string) > config.maxTextBytes) throw new Error(`--text is longer than ${config.maxTextBytes} bytes`);
    const queues = new InboundQueues(redis, keys, config.queuePartitions);
    const id = opts.id ?? `cli-${randomUUID()}`;
    await queues.enqueue({ channel: opts.channel as string, id, author: opts.author as string, text: opts.text as string, receivedAt: Date.now() });
    await queues.close();
    await redis.quit();
    process.stdout.write(opts.json ? `${JSON.stringify({ queued: true, id, channel: opts.channel })}\n` : `queued ${id} in ${opts.channel}\n`);
  });

common(program.command('history'))
  .description('print a channel\'s stored messages, oldest first')
  .requiredOption('--channel <name>', 'chat channel')
  .option('--limit <n>', 'how many of the latest messages', '10')
  .action(async (opts: Record<string, string>) => {
    if (!isValidChannel(opts.channel)) throw new Error(`--channel ${JSON.stringify(opts.channel)} is not a valid channel name`);
    const limit = Number(opts.limit);
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > 1000) throw new Error('--limit must be a whole number from 1 to 1000');
    const { config, redis, keys } = await connect(opts);
    const read = await new ChannelStore(redis, keys, config.retentionMs).read(opts.channel as string, { last: limit });
    await redis.quit();
    const frame = historyFrame(opts.channel as string, read);
    if (opts.json) { process.stdout.write(`${JSON.stringify(frame)}\n`); return; }
    for (const m of frame.messages) {
      process.stdout.write(`#${m.seq} ${new Date(m.timestamp).toISOString()} ${m.author}: ${m.text}\n`);
    }
    process.stdout.write(`(${frame.messages.length} shown, latest seq ${frame.seq})\n`);
  });

program.parseAsync().catch((err) => fail('chat-producer', err));
