/**
 * The pm2 deployment (pm2.config.js) against a private Redis: it serves, scales workers and push
 * servers live, and stops cleanly.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import WebSocket from 'ws';
import { ChatClient, type SocketLike } from '@chat/shared';
import { freePort, freePortRange } from '../helpers/ports.js';
import { RedisServer } from '../helpers/redis-server.js';
import { expectExactlyOnceInOrder, runResilientLoad } from '../helpers/resilient-load.js';
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
  /** pm2 without blocking this process's event loop (the load keeps running meanwhile). */
  const pm2Async = (...args: string[]): Promise<string> => new Promise((resolve, reject) => {
    const child = spawn(join(PM2_BIN, 'pm2'), args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`pm2 ${args.join(' ')} failed: ${err}`))));
  });
  const processes = (): Array<{ name: string; pid: number; pm2_env: { status: string } }> => JSON.parse(pm2('jlist'));
  /** The last lines a program wrote to stderr under pm2, to say why a scale step failed. */
  const pm2Errors = (name: string): string => {
    try {
      return readFileSync(join(pm2Home, 'logs', `${name}-error.log`), 'utf8').split('\n').slice(-15).join('\n');
    } catch {
      return '(no error log)';
    }
  };
  const online = (name: string): number => processes().filter((p) => p.name === name && p.pm2_env.status === 'online').length;

  before(async function () {
    redis = await RedisServer.start();
    pm2Home = mkdtempSync(join(tmpdir(), 'chat-pm2-'));
    port = await freePort();
    // Up to 5 instances of each number their metrics ports up from a base.
    const metricsBase = await freePortRange(10);
    env = {
      ...process.env, PM2_HOME: pm2Home, REDIS_URL: redis.url, PORT: String(port), HOST: '127.0.0.1',
      // Instances count up from these (pm2 increment_var).
      PUSH_METRICS_PORT: String(metricsBase), WORKER_METRICS_PORT: String(metricsBase + 5),
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

  it('scales workers and push servers up and down under a load with nothing lost, doubled or reordered, then stops cleanly', async function () {
    this.timeout(120_000);
    const a = await connect('pm2-a');
    await a.join('pm2');
    const atA = collect(a, 'pm2');
    await a.send('pm2', 'warm-up');
    await waitForCount(atA, 1, 'the warm-up message');

    // Four resilient senders (reconnect, resume with since, resend unacknowledged with the same
    // id) keep sending while the deployment is rescaled under them.
    let scaled = false;
    const loading = runResilientLoad(() => [`ws://127.0.0.1:${port}`], {
      channel: 'pm2-load', senders: 4, perSender: 100_000, paceMs: 20, until: () => scaled,
    });
    const live = async (key: string): Promise<number> => {
      const client = redis.client();
      const [sec] = (await client.time()) as unknown as [string];
      return (await client.zrangebyscore(key, Number(sec) * 1000, '+inf')).length;
    };
    const steps: Array<[string, string, number, string]> = [
      ['queue-worker', '3', 3, 'chat:workers'],
      ['queue-worker', '1', 1, 'chat:workers'],
      ['push-server', '3', 3, 'chat:push-servers'],
      ['push-server', '1', 1, 'chat:push-servers'],
      ['push-server', '2', 2, 'chat:push-servers'],
    ];
    const redisCmd = redis.client();
    for (const [name, count, want, registry] of steps) {
      const storedBefore = Number(await redisCmd.get('chat:ch:{pm2-load}:seq'));
      await pm2Async('scale', name, count);
      await waitFor(async () => online(name) === want && (await live(registry)) === want || undefined, `${want} × ${name}`, 30_000, 200)
        .catch(async (err: Error) => {
          throw new Error(`${err.message}: ${online(name)} online in pm2, ${await live(registry)} live in ${registry}; ${name} errors: ${pm2Errors(name)}`);
        });
      // The load went on through the change: messages were stored after it.
      await waitFor(async () => Number(await redisCmd.get('chat:ch:{pm2-load}:seq')) > storedBefore + 20 || undefined,
        `messages stored after scaling ${name} to ${count}`, 20_000);
    }
    scaled = true;
    const load = await loading;
    console.log(`      ${load.total} messages sent during five rescales; ${load.senders.reduce((n, s) => n + s.reconnects, 0)} reconnects`);
    await expectExactlyOnceInOrder(redisCmd, 'pm2-load', load);

    // Each instance serves its own metrics.
    const workerPorts = processes().filter((p) => p.name === 'queue-worker').map((p) => Number((p.pm2_env as unknown as Record<string, string>).METRICS_PORT));
    expect(workerPorts).to.have.length(1);
    const metricsText = await (await fetch(`http://127.0.0.1:${workerPorts[0]}/metrics`)).text();
    expect(metricsText).to.match(/^chat_messages_stored_total \d+/m);

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
