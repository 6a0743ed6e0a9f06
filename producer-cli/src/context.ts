/**
 * What every chat-producer command shares: its Redis settings, a connection that fails fast,
 * and output as text or JSON.
 */
import type { Command } from 'commander';
import {
  addSettingOptions, createRedis, isValidChannel, loadConfig, RedisKeys, settingFlags, waitForRedis, type Config, type RedisClient,
  type SettingKey,
} from '@chat/shared';

export const CLI_SETTINGS: SettingKey[] = ['redisUrl', 'redisCluster', 'redisPrefix', 'queuePartitions', 'retentionMs', 'maxTextBytes'];

export interface CliContext {
  config: Config;
  redis: RedisClient;
  keys: RedisKeys;
  json: boolean;
  close(): Promise<void>;
}

/** Adds the Redis setting flags and --json to a command. */
export function withCommonOptions(cmd: Command): Command {
  return addSettingOptions(cmd, CLI_SETTINGS).option('--json', 'print machine-readable JSON');
}

/** Loads the settings and connects; throws one line when Redis does not answer. */
export async function openContext(opts: Record<string, unknown>): Promise<CliContext> {
  const config = loadConfig({ flags: settingFlags(opts, CLI_SETTINGS), role: 'producer' });
  const redis = createRedis(config, { name: 'producer', maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  try {
    await waitForRedis(redis, config.redisUrl, 3000);
  } catch (err) {
    redis.disconnect();
    throw err;
  }
  return {
    config,
    redis,
    keys: new RedisKeys(config.redisPrefix, config.redisCluster),
    json: Boolean(opts.json),
    close: async () => { await redis.quit().catch(() => redis.disconnect()); },
  };
}

/** Parses a whole-number option within bounds, or throws one line naming the flag. */
export function intOption(value: unknown, flag: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const text = String(value);
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new Error(`${flag} must be a whole number from ${min} to ${max}, got ${JSON.stringify(text)}`);
  }
  return n;
}

/** Checks a `--channel` value, or throws one line naming the flag. */
export function channelOption(value: unknown): string {
  if (!isValidChannel(value)) throw new Error(`--channel ${JSON.stringify(value)} is not a valid channel name`);
  return value as string;
}

export function out(line: string): void {
  process.stdout.write(`${line}\n`);
}
