/**
 * Settings: every one the programs read, defined once. `loadConfig` is the only place that reads
 * the environment; precedence is command-line flag, then environment, then a `.env` file, then
 * the default (SPEC §2).
 */
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { parseAddressRange } from './address-range.js';

type Kind = 'string' | 'int' | 'bool' | 'url' | 'level';

interface SettingDef {
  env: string;
  flag: string;
  kind: Kind;
  min?: number;
  describe: string;
  /** Shown in --help and the README; `undefined` means unset. */
  defaultValue: string | undefined;
}

/** Every setting: its environment variable, its flag, its default and what it means. */
export const SETTINGS = {
  redisUrl: { env: 'REDIS_URL', flag: '--redis <url>', kind: 'url', defaultValue: 'redis://127.0.0.1:6379',
    describe: 'Redis URL (or a comma list of cluster seed nodes with REDIS_CLUSTER=1)' },
  redisCluster: { env: 'REDIS_CLUSTER', flag: '--redis-cluster <bool>', kind: 'bool', defaultValue: 'false',
    describe: 'treat REDIS_URL as Redis Cluster seed nodes' },
  redisPrefix: { env: 'REDIS_PREFIX', flag: '--prefix <prefix>', kind: 'string', defaultValue: 'chat',
    describe: 'prefix of every Redis key, queue and pub/sub channel' },
  port: { env: 'PORT', flag: '--port <port>', kind: 'int', min: 0, defaultValue: '8080',
    describe: 'push-server listen port (0 picks a free one)' },
  host: { env: 'HOST', flag: '--host <address>', kind: 'string', defaultValue: '0.0.0.0',
    describe: 'push-server listen address' },
  serverId: { env: 'SERVER_ID', flag: '--server-id <id>', kind: 'string', defaultValue: undefined,
    describe: 'unique id of this process (default: host + pm2 instance + pid)' },
  historyLimit: { env: 'HISTORY_LIMIT', flag: '--history-limit <n>', kind: 'int', min: 0, defaultValue: '10',
    describe: 'messages sent on join without since' },
  retentionMs: { env: 'RETENTION_MS', flag: '--retention-ms <ms>', kind: 'int', min: 100, defaultValue: '86400000',
    describe: 'how long each message stays in Redis' },
  maxTextBytes: { env: 'MAX_TEXT_BYTES', flag: '--max-text-bytes <n>', kind: 'int', min: 1, defaultValue: '4096',
    describe: 'largest message text in UTF-8 bytes' },
  workerConcurrency: { env: 'WORKER_CONCURRENCY', flag: '--concurrency <n>', kind: 'int', min: 1, defaultValue: '64',
    describe: 'channels a worker persists in parallel within one batch job' },
  queuePartitions: { env: 'QUEUE_PARTITIONS', flag: '--partitions <n>', kind: 'int', min: 1, defaultValue: '1',
    describe: 'inbound queues (more spread ingestion over a cluster\'s nodes); a channel always maps to the same one; change only when the queues are empty' },
  enqueueLingerMs: { env: 'ENQUEUE_LINGER_MS', flag: '--enqueue-linger-ms <ms>', kind: 'int', min: 0, defaultValue: '1',
    describe: 'push server: least time between two jobs of one partition; messages arriving sooner share the next job' },
  heartbeatMs: { env: 'HEARTBEAT_MS', flag: '--heartbeat-ms <ms>', kind: 'int', min: 50, defaultValue: '5000',
    describe: 'how often push servers refresh their routes; a silent server drops out after 3' },
  stalledIntervalMs: { env: 'STALLED_INTERVAL_MS', flag: '--stalled-interval-ms <ms>', kind: 'int', min: 100,
    defaultValue: '30000', describe: 'how soon a job held by a dead worker is handed to another' },
  rateLimit: { env: 'RATE_LIMIT', flag: '--rate-limit <n>', kind: 'int', min: 1, defaultValue: '20',
    describe: 'messages per second per connection (token bucket refill)' },
  rateBurst: { env: 'RATE_BURST', flag: '--rate-burst <n>', kind: 'int', min: 1, defaultValue: '40',
    describe: 'token bucket size per connection' },
  authSecret: { env: 'AUTH_SECRET', flag: '--auth-secret <secret>', kind: 'string', defaultValue: undefined,
    describe: 'when set, every connection needs a valid HS256 JWT signed with it (sub = user name)' },
  authJwksUrl: { env: 'AUTH_JWKS_URL', flag: '--auth-jwks-url <url>', kind: 'string', defaultValue: undefined,
    describe: 'when set, RS256/ES256 tokens are verified against this JWKS (an identity provider\'s keys)' },
  authIssuer: { env: 'AUTH_ISSUER', flag: '--auth-issuer <iss>', kind: 'string', defaultValue: undefined,
    describe: 'when set, a token\'s iss must equal it' },
  authAudience: { env: 'AUTH_AUDIENCE', flag: '--auth-audience <aud>', kind: 'string', defaultValue: undefined,
    describe: 'when set, a token\'s aud must contain it' },
  authHookUrl: { env: 'AUTH_HOOK_URL', flag: '--auth-hook-url <url>', kind: 'string', defaultValue: undefined,
    describe: 'the application\'s endpoint asked about joins and writes that a token\'s claims do not grant' },
  serverApiKey: { env: 'SERVER_API_KEY', flag: '--server-api-key <key>', kind: 'string', defaultValue: undefined,
    describe: 'the key of the server API and of the guarded HTTP reads (at least 24 characters)' },
  webhookUrl: { env: 'WEBHOOK_URL', flag: '--webhook-url <url>', kind: 'string', defaultValue: undefined,
    describe: 'the application\'s endpoint that receives chat events (SPEC §8); needs WEBHOOK_SECRET' },
  webhookSecret: { env: 'WEBHOOK_SECRET', flag: '--webhook-secret <secret>', kind: 'string', defaultValue: undefined,
    describe: 'the HMAC-SHA256 key that signs webhook requests (at least 16 characters)' },
  webhookDebounceMs: { env: 'WEBHOOK_DEBOUNCE_MS', flag: '--webhook-debounce-ms <ms>', kind: 'int', min: 0, defaultValue: '3000',
    describe: 'member.left and channel.vacated wait this long for the user (or anyone) to come back' },
  webhookConcurrency: { env: 'WEBHOOK_CONCURRENCY', flag: '--webhook-concurrency <n>', kind: 'int', min: 1, defaultValue: '4',
    describe: 'worker: webhook dispatch loops, each with one request in flight' },
  redisCutoffMs: { env: 'REDIS_CUTOFF_MS', flag: '--redis-cutoff-ms <ms>', kind: 'int', min: 1000, defaultValue: '10000',
    describe: 'a push server that has not reached Redis this long closes its connections (1013) until Redis answers again; a worker says it is cut off' },
  trustProxy: { env: 'TRUST_PROXY', flag: '--trust-proxy <list>', kind: 'string', defaultValue: undefined,
    describe: 'comma list of proxy addresses or CIDRs whose X-Forwarded-For gives the client address' },
  allowedOrigins: { env: 'ALLOWED_ORIGINS', flag: '--allowed-origins <list>', kind: 'string', defaultValue: undefined,
    describe: 'comma list of origins allowed on the WebSocket upgrade (unset: any)' },
  maxChannelsPerConnection: { env: 'MAX_CHANNELS_PER_CONNECTION', flag: '--max-channels <n>', kind: 'int', min: 1,
    defaultValue: '100', describe: 'channels one connection may join at once' },
  maxConnectionsPerIp: { env: 'MAX_CONNECTIONS_PER_IP', flag: '--max-connections-per-ip <n>', kind: 'int', min: 1,
    defaultValue: '1000', describe: 'open WebSocket connections per client address on one push server' },
  maxSendBufferBytes: { env: 'MAX_SEND_BUFFER_BYTES', flag: '--max-send-buffer <bytes>', kind: 'int', min: 1024,
    defaultValue: '4194304', describe: 'a connection whose unsent data passes this is closed with 1013 (it does not read)' },
  queueHighWater: { env: 'QUEUE_HIGH_WATER', flag: '--queue-high-water <n>', kind: 'int', min: 1, defaultValue: '20000',
    describe: 'waiting jobs in a partition above which push servers answer overloaded instead of enqueueing' },
  metricsPort: { env: 'METRICS_PORT', flag: '--metrics-port <port>', kind: 'int', min: 0, defaultValue: undefined,
    describe: 'worker: serve Prometheus /metrics on this port (unset: off; 0 picks a free port)' },
  presenceIntervalMs: { env: 'PRESENCE_INTERVAL_MS', flag: '--presence-interval-ms <ms>', kind: 'int', min: 10, defaultValue: '250',
    describe: 'presence changes are coalesced into at most one frame per channel this often' },
  drainTimeoutMs: { env: 'DRAIN_TIMEOUT_MS', flag: '--drain-timeout-ms <ms>', kind: 'int', min: 0, defaultValue: '10000',
    describe: 'on SIGTERM, how long a worker waits for its jobs in flight before exiting' },
  logLevel: { env: 'LOG_LEVEL', flag: '--log-level <level>', kind: 'level', defaultValue: 'info',
    describe: 'error, warn, info, debug' },
} as const satisfies Record<string, SettingDef>;

export type SettingKey = keyof typeof SETTINGS;

export interface Config {
  redisUrl: string;
  redisCluster: boolean;
  redisPrefix: string;
  port: number;
  host: string;
  serverId: string;
  historyLimit: number;
  retentionMs: number;
  maxTextBytes: number;
  workerConcurrency: number;
  queuePartitions: number;
  enqueueLingerMs: number;
  heartbeatMs: number;
  stalledIntervalMs: number;
  rateLimit: number;
  rateBurst: number;
  drainTimeoutMs: number;
  presenceIntervalMs: number;
  /** HS256 secret; undefined when HS256 tokens are not accepted. */
  authSecret: string | undefined;
  /** JWKS URL for RS256/ES256 tokens; undefined when they are not accepted. */
  authJwksUrl: string | undefined;
  authIssuer: string | undefined;
  authAudience: string | undefined;
  /** The application's authorization hook; undefined when none. */
  authHookUrl: string | undefined;
  /** Key of the server API and the guarded HTTP reads; undefined when off. */
  serverApiKey: string | undefined;
  /** Where chat events are POSTed (SPEC §8); undefined when webhooks are off. */
  webhookUrl: string | undefined;
  webhookSecret: string | undefined;
  webhookDebounceMs: number;
  webhookConcurrency: number;
  /** A push server cut off from Redis this long closes its connections. */
  redisCutoffMs: number;
  /** Proxies (addresses and CIDRs) whose X-Forwarded-For is believed; empty when none. */
  trustProxy: string[];
  /** Allowed Origin headers; undefined when any origin is allowed. */
  allowedOrigins: string[] | undefined;
  maxChannelsPerConnection: number;
  maxConnectionsPerIp: number;
  maxSendBufferBytes: number;
  queueHighWater: number;
  /** Worker metrics port; undefined when off. */
  metricsPort: number | undefined;
  logLevel: 'error' | 'warn' | 'info' | 'debug';
}

/** A setting with a bad value; the message is one line naming the setting, the value and the fix. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Flag values as commander gives them, keyed by setting name (camelCase). */
export type FlagValues = Partial<Record<SettingKey, string | undefined>>;

export interface LoadConfigOptions {
  flags?: FlagValues;
  env?: NodeJS.ProcessEnv;
  /** Path of the `.env` file; missing files are fine. Default: `.env` in the working directory. */
  envFile?: string | false;
  /** Used for the default `SERVER_ID`; e.g. `push` or `worker`. */
  role?: string;
}

const LEVELS = ['error', 'warn', 'info', 'debug'];

export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const fileEnv = readEnvFile(options.envFile === undefined ? resolve('.env') : options.envFile);
  const flags = options.flags ?? {};
  const raw = (key: SettingKey): { value: string | undefined; source: string } => {
    const def: SettingDef = SETTINGS[key];
    const flagName = def.flag.split(' ')[0] as string;
    if (flags[key] !== undefined) return { value: flags[key], source: flagName };
    if (env[def.env] !== undefined && env[def.env] !== '') return { value: env[def.env], source: def.env };
    if (fileEnv[def.env] !== undefined) return { value: fileEnv[def.env], source: `${def.env} in .env` };
    return { value: def.defaultValue, source: `default of ${def.env}` };
  };
  const str = (key: SettingKey): string => {
    const { value, source } = raw(key);
    if (value === undefined || value.trim() === '') throw new ConfigError(`${source} is empty: give it a value`);
    return value.trim();
  };
  const int = (key: SettingKey): number => {
    const { value, source } = raw(key);
    const def: SettingDef = SETTINGS[key];
    const n = Number(value);
    if (value === undefined || !/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < (def.min ?? 0)) {
      throw new ConfigError(
        `${source} must be a whole number >= ${def.min ?? 0}, got ${JSON.stringify(value ?? '')}`);
    }
    return n;
  };
  const bool = (key: SettingKey): boolean => {
    const { value, source } = raw(key);
    const v = (value ?? '').trim().toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(v)) return true;
    if (['0', 'false', 'no', 'off', ''].includes(v)) return false;
    throw new ConfigError(`${source} must be true or false, got ${JSON.stringify(value)}`);
  };
  const optional = (key: SettingKey): string | undefined => {
    const value = raw(key).value?.trim();
    return value ? value : undefined;
  };
  const redisUrl = str('redisUrl');
  for (const part of redisUrl.split(',')) {
    if (!/^rediss?:\/\/[^\s]+$/.test(part.trim())) {
      throw new ConfigError(`${raw('redisUrl').source} must look like redis://host:port, got ${JSON.stringify(part)}`);
    }
  }
  const logLevel = str('logLevel').toLowerCase();
  if (!LEVELS.includes(logLevel)) {
    throw new ConfigError(`${raw('logLevel').source} must be one of ${LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`);
  }
  const prefix = str('redisPrefix');
  if (/[{}\s]/.test(prefix)) {
    throw new ConfigError(`${raw('redisPrefix').source} must not contain braces or spaces, got ${JSON.stringify(prefix)}`);
  }
  const serverIdRaw = raw('serverId').value?.trim();
  if (serverIdRaw && !/^[A-Za-z0-9_.:-]{1,128}$/.test(serverIdRaw)) {
    throw new ConfigError(`${raw('serverId').source} may use only letters, digits and _ . : - (up to 128), got ${JSON.stringify(serverIdRaw)}`);
  }
  const secret = optional('authSecret');
  if (secret !== undefined && secret.length < 16) {
    throw new ConfigError(`${raw('authSecret').source} must be at least 16 characters (use a long random string)`);
  }
  const httpUrl = (key: 'authJwksUrl' | 'authHookUrl' | 'webhookUrl'): string | undefined => {
    const value = optional(key);
    if (value === undefined) return undefined;
    let ok = false;
    try { ok = ['http:', 'https:'].includes(new URL(value).protocol); } catch { ok = false; }
    if (!ok) throw new ConfigError(`${raw(key).source} must be an http(s) URL, got ${JSON.stringify(value)}`);
    return value;
  };
  const apiKey = optional('serverApiKey');
  if (apiKey !== undefined && apiKey.length < 24) {
    throw new ConfigError(`${raw('serverApiKey').source} must be at least 24 characters (use a long random string)`);
  }
  const webhookUrl = httpUrl('webhookUrl');
  const webhookSecret = optional('webhookSecret');
  if (webhookUrl !== undefined && (webhookSecret === undefined || webhookSecret.length < 16)) {
    throw new ConfigError(`${raw('webhookUrl').source} needs WEBHOOK_SECRET of at least 16 characters to sign the requests`);
  }
  const jwksUrl = httpUrl('authJwksUrl');
  const hookUrl = httpUrl('authHookUrl');
  if (hookUrl !== undefined && secret === undefined && jwksUrl === undefined) {
    throw new ConfigError(`${raw('authHookUrl').source} needs authentication on: set AUTH_SECRET or AUTH_JWKS_URL too`);
  }
  const trustProxy = (): string[] => {
    const list = (optional('trustProxy') ?? '').split(',').map((e) => e.trim()).filter(Boolean);
    for (const entry of list) {
      if (parseAddressRange(entry) === undefined) {
        throw new ConfigError(`${raw('trustProxy').source}: "${entry}" is not an IP address or CIDR (e.g. 10.0.0.5, 10.0.0.0/8, fd00::/8)`);
      }
    }
    return list;
  };
  const port = int('port');
  if (port > 65535) throw new ConfigError(`${raw('port').source} must be at most 65535, got ${port}`);
  return {
    redisUrl,
    redisCluster: bool('redisCluster'),
    redisPrefix: prefix,
    port,
    host: str('host'),
    serverId: serverIdRaw ? serverIdRaw : defaultServerId(options.role ?? 'proc', env),
    historyLimit: int('historyLimit'),
    retentionMs: int('retentionMs'),
    maxTextBytes: int('maxTextBytes'),
    workerConcurrency: int('workerConcurrency'),
    queuePartitions: int('queuePartitions'),
    enqueueLingerMs: int('enqueueLingerMs'),
    heartbeatMs: int('heartbeatMs'),
    stalledIntervalMs: int('stalledIntervalMs'),
    rateLimit: int('rateLimit'),
    rateBurst: int('rateBurst'),
    drainTimeoutMs: int('drainTimeoutMs'),
    presenceIntervalMs: int('presenceIntervalMs'),
    authSecret: optional('authSecret'),
    authJwksUrl: jwksUrl,
    authIssuer: optional('authIssuer'),
    authAudience: optional('authAudience'),
    authHookUrl: hookUrl,
    serverApiKey: apiKey,
    webhookUrl,
    webhookSecret: webhookUrl === undefined ? undefined : webhookSecret,
    webhookDebounceMs: int('webhookDebounceMs'),
    webhookConcurrency: int('webhookConcurrency'),
    redisCutoffMs: int('redisCutoffMs'),
    trustProxy: trustProxy(),
    allowedOrigins: optional('allowedOrigins')?.split(',').map((o) => o.trim().replace(/\/$/, '')).filter(Boolean),
    maxChannelsPerConnection: int('maxChannelsPerConnection'),
    maxConnectionsPerIp: int('maxConnectionsPerIp'),
    maxSendBufferBytes: int('maxSendBufferBytes'),
    queueHighWater: int('queueHighWater'),
    metricsPort: optional('metricsPort') === undefined ? undefined : int('metricsPort'),
    logLevel: logLevel as Config['logLevel'],
  };
}

/** `host-role-pid`, with the pm2 instance number when pm2 runs the process. */
export function defaultServerId(role: string, env: NodeJS.ProcessEnv = process.env): string {
  const instance = env.NODE_APP_INSTANCE ?? env.pm_id;
  const parts = [hostname(), role];
  if (instance !== undefined) parts.push(`i${instance}`);
  parts.push(String(process.pid));
  return parts.join('-').replace(/[^A-Za-z0-9_.:-]/g, '_');
}

function readEnvFile(path: string | false): Record<string, string> {
  if (path === false || !existsSync(path)) return {};
  try {
    return parseEnv(readFileSync(path, 'utf8')) as Record<string, string>;
  } catch (err) {
    throw new ConfigError(`cannot read ${path}: ${(err as Error).message}`);
  }
}
