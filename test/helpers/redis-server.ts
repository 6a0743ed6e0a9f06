/**
 * Starts a private `redis-server` on a free loopback port for one test file, and can kill and
 * restart it (fault tests). Data lives in a temporary directory that is removed at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';
import { killAndWait } from './process.js';
import { waitFor } from './wait.js';

export interface RedisServerOptions {
  /** Turn on AOF (`appendfsync always` unless `fsync` says otherwise). */
  appendOnly?: boolean;
  /** AOF fsync policy when `appendOnly` is on. */
  fsync?: 'always' | 'everysec';
  extraArgs?: string[];
}

export class RedisServer {
  private proc: ChildProcess | undefined;
  private readonly clients: Redis[] = [];

  private constructor(readonly port: number, readonly dir: string, private readonly options: RedisServerOptions) {}

  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), mkdtempSync(join(tmpdir(), 'chat-redis-')), options);
    await server.launch();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** The server's process id (the bench accounts for its CPU). */
  get pid(): number {
    return this.proc?.pid as number;
  }

  /** A client for assertions; closed by `stop`. */
  client(): Redis {
    const c = new Redis(this.url, { maxRetriesPerRequest: null, lazyConnect: false });
    c.on('error', () => undefined);
    this.clients.push(c);
    return c;
  }

  async launch(): Promise<void> {
    const args = [
      '--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '',
      '--appendonly', this.options.appendOnly ? 'yes' : 'no', '--maxmemory-policy', 'noeviction',
      ...(this.options.appendOnly ? ['--appendfsync', this.options.fsync ?? 'always'] : []),
      ...(this.options.extraArgs ?? []),
    ];
    this.proc = spawn('redis-server', args, { stdio: 'ignore' });
    const probe = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await waitFor(async () => {
        if (probe.status !== 'ready') await probe.connect().catch(() => undefined);
        return (await probe.ping()) === 'PONG';
      }, `redis-server on port ${this.port}`, 10_000, 20);
    } finally {
      probe.disconnect();
    }
  }

  /** Freezes the server (SIGSTOP): connections stay open and nothing is answered. */
  pause(): void {
    this.proc?.kill('SIGSTOP');
  }

  /** Thaws a server frozen by `pause`. */
  resume(): void {
    this.proc?.kill('SIGCONT');
  }

  /** Kills the server at once (SIGKILL) and waits for it to be gone. */
  async kill(): Promise<void> {
    await killAndWait(this.proc);
  }

  async stop(): Promise<void> {
    this.resume();
    for (const c of this.clients) c.disconnect();
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
