/**
 * Redis connections for every program, built in one place from the config.
 */
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import { variadicScriptCommands, type RedisClient } from './scripts.js';

export interface RedisConnectOptions {
  /** Shown in CLIENT LIST and in logs. */
  name: string;
  logger?: Logger;
  /** Commands fail after this many reconnect attempts instead of waiting (null: wait for Redis). */
  maxRetriesPerRequest?: number | null;
  /**
   * Pipeline commands issued in the same tick (default true). Off for BullMQ's connections:
   * ioredis copies every defined script onto each pipeline it builds, and BullMQ defines dozens.
   */
  autoPipelining?: boolean;
  /** On a cluster, subscribe with sharded pub/sub (one subscriber connection per master). */
  shardedSubscribers?: boolean;
  /**
   * Fail a command that gets no answer in this time, so that nothing waits forever on a network
   * that stopped answering without closing (unset: wait).
   */
  commandTimeoutMs?: number;
}

/**
 * No command on a program's main Redis connection waits longer than this for its answer (the
 * BullMQ connections block by design and are bounded by leases and job locks instead).
 */
export const REDIS_COMMAND_TIMEOUT_MS = 5000;

/** Delay between reconnect attempts: quick at first, at most 2 s. */
export function reconnectDelay(attempt: number): number {
  return Math.min(50 * 2 ** Math.min(attempt, 6), 2000);
}

export function createRedis(config: Pick<Config, 'redisUrl' | 'redisCluster'>, options: RedisConnectOptions): RedisClient {
  const common: RedisOptions = {
    connectionName: options.name,
    maxRetriesPerRequest: options.maxRetriesPerRequest === undefined ? null : options.maxRetriesPerRequest,
    enableAutoPipelining: options.autoPipelining ?? true,
    retryStrategy: reconnectDelay,
    ...(options.commandTimeoutMs !== undefined ? { commandTimeout: options.commandTimeoutMs } : {}),
  };
  let client: RedisClient;
  if (config.redisCluster) {
    const nodes = config.redisUrl.split(',').map((u) => {
      const url = new URL(u.trim());
      return { host: url.hostname, port: Number(url.port || 6379) };
    });
    client = new Cluster(nodes, {
      redisOptions: common,
      enableAutoPipelining: options.autoPipelining ?? true,
      // A cluster auto-pipeline is grouped by the slot of a command's first argument, and a
      // script with any number of keys (`<name>-n.lua`) starts with the key count: send those
      // on their own.
      autoPipeliningIgnoredCommands: variadicScriptCommands(),
      clusterRetryStrategy: reconnectDelay,
      // Sharded subscribers follow slot moves only when the slot map is refreshed: after a
      // failover the first refresh can still see the old map, so refresh on a timer too.
      ...(options.shardedSubscribers ? { shardedSubscribers: true, slotsRefreshInterval: 1000 } : {}),
    });
  } else {
    client = new Redis(config.redisUrl, common);
  }
  let lastError = '';
  client.on('error', (err: Error) => {
    // ioredis repeats the same error on every reconnect attempt: log each distinct one once.
    if (err.message !== lastError) options.logger?.warn('redis connection error', { connection: options.name, error: err.message });
    lastError = err.message;
  });
  client.on('ready', () => {
    if (lastError) options.logger?.info('redis connection restored', { connection: options.name });
    lastError = '';
  });
  return client;
}

/** Waits until the client answers PING, or throws a one-line error saying what to do. */
export async function waitForRedis(client: RedisClient, url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        client.ping(),
        new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('no answer')), Math.max(100, deadline - Date.now())); }),
      ]);
      return;
    } catch (err) {
      lastError = err;
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      clearTimeout(timer);
    }
  }
  throw new Error(`cannot reach Redis at ${url} (${(lastError as Error)?.message ?? 'timeout'}): ` +
    'start redis-server or set REDIS_URL / --redis');
}

/** Redis's own clock, for expiry scores that every host compares the same way. */
export class RedisClock {
  private offsetMs = 0;
  constructor(private readonly client: RedisClient) {}
  /** Re-measures the offset between this host's clock and Redis's. */
  async sync(): Promise<void> {
    const before = Date.now();
    const [sec, usec] = (await this.client.time()) as [string | number, string | number];
    const after = Date.now();
    const redisMs = Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
    this.offsetMs = redisMs - Math.round((before + after) / 2);
  }
  now(): number { return Date.now() + this.offsetMs; }
}

/** Warns when Redis may evict keys: chat history and queued jobs must never be evicted (SPEC §6). */
export async function checkEvictionPolicy(client: RedisClient, logger: Logger): Promise<void> {
  try {
    const reply = (await client.config('GET', 'maxmemory-policy')) as string[];
    const policy = reply[1];
    if (policy && policy !== 'noeviction') {
      logger.warn(`Redis maxmemory-policy is ${policy}: set it to noeviction (CONFIG SET maxmemory-policy noeviction) or messages and jobs may be evicted`);
    }
  } catch {
    // CONFIG may be disabled (managed Redis); nothing to check then.
  }
}
