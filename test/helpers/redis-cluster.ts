/**
 * A private local Redis Cluster for tests: N masters (and optional replicas) on free loopback
 * ports, created with `redis-cli --cluster create`. Nodes can be killed to test failover.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { freePort } from './ports.js';
import { killAndWait } from './process.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);

/** A port whose cluster bus port (+10000) is also free. */
async function clusterPort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port + 10000 > 65535) continue;
    const bus = await new Promise<boolean>((resolve) => {
      import('node:net').then(({ createServer }) => {
        const s = createServer();
        s.once('error', () => resolve(false));
        s.listen(port + 10000, '127.0.0.1', () => s.close(() => resolve(true)));
      }, () => resolve(false));
    });
    if (bus) return port;
  }
}

export interface ClusterOptions {
  masters?: number;
  replicasPerMaster?: number;
  appendOnly?: boolean;
}

export class RedisCluster {
  readonly cluster = true;
  private readonly procs = new Map<number, ChildProcess>();
  private readonly clients: Cluster[] = [];

  private constructor(readonly ports: number[], readonly dir: string, private readonly options: ClusterOptions) {}

  static async start(options: ClusterOptions = {}): Promise<RedisCluster> {
    const masters = options.masters ?? 3;
    const count = masters * (1 + (options.replicasPerMaster ?? 0));
    const ports: number[] = [];
    while (ports.length < count) {
      const p = await clusterPort();
      if (!ports.includes(p)) ports.push(p);
    }
    const cluster = new RedisCluster(ports, mkdtempSync(join(tmpdir(), 'chat-cluster-')), options);
    await Promise.all(ports.map((p) => cluster.launch(p)));
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`),
      '--cluster-replicas', String(options.replicasPerMaster ?? 0), '--cluster-yes']);
    await waitFor(async () => {
      for (const p of ports) {
        const c = new Redis(p, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0 });
        try {
          await c.connect();
          const info = String(await c.cluster('INFO'));
          if (!info.includes('cluster_state:ok')) return false;
        } finally {
          c.disconnect();
        }
      }
      return true;
    }, 'the cluster to be ok', 30_000, 100);
    return cluster;
  }

  /** Seed URLs of every node, as REDIS_URL takes them with REDIS_CLUSTER=1. */
  get url(): string {
    return this.ports.map((p) => `redis://127.0.0.1:${p}`).join(',');
  }

  /** Process ids of the nodes (the bench accounts for their CPU). */
  get pids(): number[] {
    return this.ports.map((p) => this.procs.get(p)?.pid as number);
  }

  client(): Cluster {
    const c = new Cluster(this.ports.map((port) => ({ host: '127.0.0.1', port })), { redisOptions: { maxRetriesPerRequest: null } });
    c.on('error', () => undefined);
    this.clients.push(c);
    return c;
  }

  async launch(port: number): Promise<void> {
    const dir = join(this.dir, String(port));
    mkdirSync(dir, { recursive: true });
    const proc = spawn('redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--cluster-enabled', 'yes',
      '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '1000', '--save', '',
      '--appendonly', this.options.appendOnly ? 'yes' : 'no', '--maxmemory-policy', 'noeviction',
      ...(this.options.appendOnly ? ['--appendfsync', 'always'] : []),
    ], { stdio: 'ignore' });
    this.procs.set(port, proc);
    await waitFor(async () => {
      const c = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      c.on('error', () => undefined);
      try { await c.connect(); return (await c.ping()) === 'PONG'; } finally { c.disconnect(); }
    }, `cluster node ${port}`, 10_000, 20);
  }

  /** The port of the master serving `key`. */
  async masterOf(key: string): Promise<number> {
    const live = this.ports.find((p) => this.procs.get(p)?.exitCode === null && this.procs.get(p)?.signalCode === null);
    const c = new Redis(live as number, '127.0.0.1', { maxRetriesPerRequest: 1 });
    c.on('error', () => undefined);
    try {
      const slot = Number(await c.cluster('KEYSLOT', key));
      const slots = (await c.cluster('SLOTS')) as unknown as Array<[number, number, [string, number]]>;
      const range = slots.find(([from, to]) => slot >= from && slot <= to);
      return Number(range?.[2][1]);
    } finally {
      c.disconnect();
    }
  }

  async kill(port: number): Promise<void> {
    await killAndWait(this.procs.get(port));
  }

  async stop(): Promise<void> {
    for (const c of this.clients) c.disconnect();
    await Promise.all([...this.procs.keys()].map((p) => this.kill(p)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
