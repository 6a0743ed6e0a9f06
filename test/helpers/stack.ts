/**
 * A whole deployment for a test file: a private Redis, N push servers and M workers, all real
 * processes. `stop` kills everything it started.
 */
import WebSocket from 'ws';
import { ChatClient, type ConnectOptions, type MessageFrame, type SocketLike } from '@chat/shared';
import { RedisCluster, type ClusterOptions } from './redis-cluster.js';
import { RedisServer, type RedisServerOptions } from './redis-server.js';
import { ProgramProcess, PushServerProcess, startWorker } from './programs.js';
import { waitFor } from './wait.js';

export interface StackOptions {
  pushServers?: number;
  workers?: number;
  env?: Record<string, string>;
  redis?: RedisServerOptions;
  /** Run against a local Redis Cluster instead of one Redis. */
  cluster?: ClusterOptions;
}

export const TEST_ENV: Record<string, string> = {
  HEARTBEAT_MS: '300',
  STALLED_INTERVAL_MS: '2000',
  RATE_LIMIT: '1000',
  RATE_BURST: '1000',
};

export class Stack {
  private readonly clients: ChatClient[] = [];

  private constructor(
    readonly redis: RedisServer,
    /** Set when the stack runs on a Redis Cluster (then `redis` is unused). */
    readonly cluster: RedisCluster | undefined,
    readonly pushServers: PushServerProcess[],
    readonly workers: ProgramProcess[],
    readonly env: Record<string, string>,
  ) {}

  static async start(options: StackOptions = {}): Promise<Stack> {
    const cluster = options.cluster ? await RedisCluster.start(options.cluster) : undefined;
    const redis = cluster ? (cluster as unknown as RedisServer) : await RedisServer.start(options.redis);
    // On a cluster, several partitions spread ingestion over the masters (as the README advises).
    const clusterEnv: Record<string, string> = cluster ? { REDIS_CLUSTER: '1', QUEUE_PARTITIONS: '4' } : {};
    const env = { ...TEST_ENV, ...clusterEnv, ...options.env, REDIS_URL: redis.url };
    // Start everything, and if any part fails, stop every part that did start before failing.
    const started = await Promise.allSettled([
      ...Array.from({ length: options.pushServers ?? 2 }, () => PushServerProcess.start(env)),
      ...Array.from({ length: options.workers ?? 2 }, () => startWorker(env)),
    ]);
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) {
      await Promise.all(started.map((s) => (s.status === 'fulfilled'
        ? ('program' in s.value ? s.value.program : s.value).kill() : undefined)));
      await redis.stop();
      throw failed.reason;
    }
    const parts = started.map((s) => (s as PromiseFulfilledResult<PushServerProcess | ProgramProcess>).value);
    const pushServers = parts.filter((p): p is PushServerProcess => p instanceof PushServerProcess);
    const workers = parts.filter((p): p is ProgramProcess => p instanceof ProgramProcess);
    return new Stack(redis, cluster, pushServers, workers, env);
  }

  push(i: number): PushServerProcess {
    return this.pushServers[i] as PushServerProcess;
  }

  /**
   * The worker process that holds the lease of queue partition `p` (named in `{chat:qP}:owner`),
   * and the others, once a live worker holds it.
   */
  async partitionOwner(p = 0, timeoutMs = 10_000): Promise<{ owner: ProgramProcess; others: ProgramProcess[]; id: string }> {
    const redis = this.redis.client();
    return waitFor(async () => {
      const id = await redis.get(`{chat:q${p}}:owner`);
      const owner = this.workers.find((w) => w.running && w.logs.some((l) => l.msg === 'worker ready' && l.workerId === id));
      return owner && id ? { owner, others: this.workers.filter((w) => w !== owner && w.running), id } : undefined;
    }, `a live worker to hold the lease of partition ${p}`, timeoutMs);
  }

  /** Connects a client to push server `i`; closed by `stop`. */
  async connect(i: number, user: string, options: Omit<ConnectOptions, 'socket' | 'user'> = {}): Promise<ChatClient> {
    const client = await ChatClient.connect(this.push(i).url, { ...options, user, socket: (url) => new WebSocket(url) as unknown as SocketLike });
    this.clients.push(client);
    return client;
  }

  async stop(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.close().catch(() => undefined)));
    await Promise.all([...this.pushServers.map((p) => p.program.kill()), ...this.workers.map((w) => w.kill())]);
    await this.redis.stop();
  }
}

/** Collects the live messages a client receives in one channel. */
export function collect(client: ChatClient, channel: string): MessageFrame[] {
  const got: MessageFrame[] = [];
  client.on('message', (m) => { if (m.channel === channel) got.push(m); });
  return got;
}

/** Waits until `list` has at least `n` entries. */
export function waitForCount<T>(list: T[], n: number, what: string, timeoutMs = 15_000): Promise<T[]> {
  return waitFor(() => (list.length >= n ? list : undefined), `${n} ${what} (have ${list.length})`, timeoutMs);
}

/**
 * Sends `texts` one by one from `sender` (ids `idPrefix-N`) and requires each to reach `received`
 * within `withinMs` of its ack: live delivery through pub/sub, not a later gap fill.
 */
export async function expectEachLiveWithin(sender: ChatClient, channel: string, received: MessageFrame[],
  messages: Array<{ text: string; id: string }>, withinMs: number): Promise<void> {
  for (const m of messages) {
    const have = received.length;
    await sender.send(channel, m.text, m.id);
    const acked = Date.now();
    await waitForCount(received, have + 1, `${m.id} live`, withinMs);
    const took = Date.now() - acked;
    if (took >= withinMs) throw new Error(`${m.id} took ${took} ms from its ack to its delivery (limit ${withinMs} ms)`);
  }
}
