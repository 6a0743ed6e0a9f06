/**
 * The pm2 deployment (pm2.config.js) against a private Redis: it serves, scales workers and push
 * servers live, and stops cleanly.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import WebSocket from 'ws';
import { ChatClient, type SocketLike } from '@chat/shared';
import { freePort } from '../helpers/ports.js';
import { RedisServer } from '../helpers/redis-server.js';
import { collect, waitForCount } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PM2_BIN = join(ROOT, 'node_modules', '.bin');

describe('pm2 deployment', function () {
  let redis: RedisServer;
  let pm2Home: string;
  let runtime: ChildProcess | undefined;
  let env: NodeJS.ProcessEnv;
  let port: number;
  const clients: ChatClient[] = [];

  const pm2 = (...args: string[]): string => {
    const r = spawnSync(join(PM2_BIN, 'pm2'), args, { env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`pm2 ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout;
  };
  const processes = (): Array<{ name: string; pid: number; pm2_env: { status: string } }> => JSON.parse(pm2('jlist'));
  const online = (name: string): number => processes().filter((p) => p.name === name && p.pm2_env.status === 'online').length;

  before(async function () {
    redis = await RedisServer.start();
    pm2Home = mkdtempSync(join(tmpdir(), 'chat-pm2-'));
    port = await freePort();
    env = {
      ...process.env, PM2_HOME: pm2Home, REDIS_URL: redis.url, PORT: String(port), HOST: '127.0.0.1',
      // Instances count up from these (pm2 increment_var).
      PUSH_METRICS_PORT: String(await freePort()), WORKER_METRICS_PORT: String(await freePort()),
      HEARTBEAT_MS: '500', RATE_LIMIT: '1000', RATE_BURST: '1000', LOG_LEVEL: 'warn',
    };
    runtime = spawn(join(PM2_BIN, 'pm2-runtime'), ['start', join(ROOT, 'pm2.config.js')], { env, stdio: 'ignore' });
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/health`)).ok, 'the push servers to answer', 30_000, 100);
    await waitFor(() => online('push-server') === 2 && online('queue-worker') === 2, 'two push servers and two workers online', 30_000, 200);
  });

  after(async function () {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    if (runtime && runtime.exitCode === null) {
      runtime.kill('SIGKILL');
      spawnSync(join(PM2_BIN, 'pm2'), ['kill'], { env });
    }
    await redis?.stop();
    rmSync(pm2Home, { recursive: true, force: true });
  });

  const connect = async (user: string): Promise<ChatClient> => {
    const c = await ChatClient.connect(`ws://127.0.0.1:${port}`, { user, socket: (u) => new WebSocket(u) as unknown as SocketLike });
    clients.push(c);
    return c;
  };

  it('delivers through the deployment while workers and push servers are scaled up and down, then stops cleanly', async function () {
    const a = await connect('pm2-a');
    const b = await connect('pm2-b');
    await a.join('pm2');
    await b.join('pm2');
    const atB = collect(b, 'pm2');
    let n = 0;
    const burst = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i++) await a.send('pm2', `m${n++}`);
      await waitForCount(atB, n, 'messages at b', 20_000);
    };
    await burst(20);

    const live = async (key: string): Promise<number> => {
      const client = redis.client();
      const [s] = (await client.time()) as unknown as [string];
      return (await client.zrangebyscore(key, Number(s) * 1000, '+inf')).length;
    };
    pm2('scale', 'queue-worker', '3');
    await waitFor(async () => online('queue-worker') === 3 && (await live('chat:workers')) === 3, 'three workers', 30_000, 200);
    await burst(20);
    pm2('scale', 'queue-worker', '1');
    await waitFor(async () => online('queue-worker') === 1 && (await live('chat:workers')) === 1, 'one worker', 30_000, 200);
    await burst(20);
    pm2('scale', 'push-server', '3');
    await waitFor(async () => online('push-server') === 3 && (await live('chat:push-servers')) === 3, 'three push servers', 30_000, 200);
    const c = await connect('pm2-c');
    await c.join('pm2');
    await burst(20);
    // Each instance serves its own metrics.
    const workerPorts = processes().filter((p) => p.name === 'queue-worker').map((p) => Number((p.pm2_env as unknown as Record<string, string>).METRICS_PORT));
    expect(workerPorts).to.have.length(1);
    const metricsText = await (await fetch(`http://127.0.0.1:${workerPorts[0]}/metrics`)).text();
    expect(metricsText).to.match(/^chat_messages_stored_total \d+/m);
    expect(atB.map((m) => m.seq)).to.deep.equal(Array.from({ length: n }, (_, k) => k + 1));
    expect(atB.map((m) => m.text)).to.deep.equal(Array.from({ length: n }, (_, k) => `m${k}`));

    const pids = processes().map((p) => p.pid);
    const exited = new Promise<number | null>((r) => runtime?.once('exit', (code) => r(code)));
    runtime?.kill('SIGINT');
    expect(await exited).to.equal(0);
    for (const pid of pids) {
      await waitFor(() => { try { process.kill(pid, 0); return false; } catch { return true; } }, `process ${pid} to exit`, 20_000);
    }
    // Every push server and worker left the registry on its way out.
    const client = redis.client();
    expect(await client.zcard('chat:push-servers')).to.equal(0);
    expect(await client.zcard('chat:workers')).to.equal(0);
  });
});
