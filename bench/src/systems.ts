/**
 * The systems under test, each started fresh on its own Redis: ours (2 push servers and
 * 2 workers, production settings) and the baseline (2 Socket.IO servers with the Redis adapter).
 * Each reports its client URLs and the processes whose CPU the bench accounts for.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { RedisCluster } from '../../test/dist/helpers/redis-cluster.js';
import { RedisServer } from '../../test/dist/helpers/redis-server.js';
import { programNodeArgs, PushServerProcess, startWorker, type ProgramProcess } from '../../test/dist/helpers/programs.js';
import { killAndWait } from '../../test/dist/helpers/process.js';
import type { SystemKind } from './clients.js';
import type { Tracked } from './proc-stats.js';

export interface RunningSystem {
  /** `ours`, `ours-cluster` or `baseline`. */
  id: string;
  kind: SystemKind;
  label: string;
  urls: string[];
  /** Seed URL(s) of the system's Redis. */
  redisUrl: string;
  procs: Tracked[];
  /** Ours with authentication on: the AUTH_SECRET the load generators mint their members' tokens with. */
  authSecret?: string;
  /** Counters read before and after each step (events per second are reported per step). */
  counters?: () => Record<string, number>;
  stop(): Promise<void>;
}

/** The redis-server pids of a single server or of a cluster's nodes. */
function redisProcs(redis: RedisServer | RedisCluster): Tracked[] {
  const pids = redis instanceof RedisCluster ? redis.pids : [redis.pid];
  return pids.map((pid, i) => ({ role: 'redis', name: `redis-${i + 1}`, pid }));
}

export interface OursOptions {
  cluster?: boolean;
  pushServers?: number;
  workers?: number;
  env?: Record<string, string>;
}

/** Like Promise.all, but waits for every promise to settle before throwing the first failure. */
async function allSettledOrThrow<T>(promises: Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/** Runs `start`; if it throws, stops whatever it had started (in reverse order) and rethrows. */
async function startAll<T>(start: (started: (stop: () => Promise<unknown>) => void) => Promise<T>): Promise<T> {
  const stops: (() => Promise<unknown>)[] = [];
  try {
    return await start((stop) => stops.unshift(stop));
  } catch (err) {
    for (const stop of stops) await stop().catch(() => undefined);
    throw err;
  }
}

export function startOurs(options: OursOptions = {}): Promise<RunningSystem & { push: PushServerProcess[] }> {
  return startAll(async (started) => {
    const redis = options.cluster ? await RedisCluster.start({ masters: 3 }) : await RedisServer.start();
    started(() => redis.stop());
    const env: Record<string, string> = {
      REDIS_URL: redis.url, ...(options.cluster ? { REDIS_CLUSTER: '1' } : {}), ...options.env,
    };
    const push = await allSettledOrThrow(Array.from({ length: options.pushServers ?? 2 }, async () => {
      const p = await PushServerProcess.start(env);
      started(() => p.program.kill());
      return p;
    }));
    const workers: ProgramProcess[] = await allSettledOrThrow(Array.from({ length: options.workers ?? 2 }, async () => {
      const w = await startWorker(env);
      started(() => w.kill());
      return w;
    }));
    return {
      id: options.cluster ? 'ours-cluster' : 'ours',
      kind: 'ours' as const,
      label: options.cluster ? 'ours (3-master cluster)' : 'ours',
      urls: push.map((p) => p.url),
      redisUrl: redis.url,
      push,
      procs: [
        ...push.map((p, i) => ({ role: 'push server', name: `push-${i + 1}`, pid: p.program.pid })),
        ...workers.map((w, i) => ({ role: 'worker', name: `worker-${i + 1}`, pid: w.pid })),
        ...redisProcs(redis),
      ],
      async stop() {
        // A profiled run (PROGRAM_NODE_ARGS) stops gracefully, so that node writes the profiles.
        const signal = process.env.PROGRAM_NODE_ARGS ? 'SIGTERM' : 'SIGKILL';
        await Promise.all([...push.map((p) => p.program.kill(signal)), ...workers.map((w) => w.kill(signal))]);
        await redis.stop();
      },
    };
  });
}

const BASELINE_BIN = fileURLToPath(new URL('./baseline-server.js', import.meta.url));
const CEILING_BIN = fileURLToPath(new URL('./ceiling-server.js', import.meta.url));

/** Starts one server program that prints "listening <port>" when ready. */
function startServerProgram(bin: string, args: string[]): Promise<{ proc: ChildProcess; port: number }> {
  const proc = spawn(process.execPath, [...programNodeArgs(), bin, '0', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`${bin}: not listening within 15 s`)); }, 15_000);
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${bin} exited (${code}) before listening`)); });
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const m = /^listening (\d+)$/.exec(line);
      if (m) { clearTimeout(timer); resolve({ proc, port: Number(m[1]) }); }
    });
  });
}

/** N copies of a server program on one private Redis. */
function startServers(
  about: Pick<RunningSystem, 'id' | 'kind' | 'label'> & { role: string; bin: string; args: string[]; path: string }, servers: number,
): Promise<RunningSystem> {
  return startAll(async (started) => {
    const redis = await RedisServer.start();
    started(() => redis.stop());
    const procs = await allSettledOrThrow(Array.from({ length: servers }, async () => {
      const s = await startServerProgram(about.bin, [redis.url, ...about.args]);
      started(() => killAndWait(s.proc));
      return s;
    }));
    return {
      id: about.id,
      kind: about.kind,
      label: about.label,
      urls: procs.map((s) => `ws://127.0.0.1:${s.port}${about.path}`),
      redisUrl: redis.url,
      procs: [
        ...procs.map((s, i) => ({ role: about.role, name: `${about.id}-${i + 1}`, pid: s.proc.pid as number })),
        ...redisProcs(redis),
      ],
      async stop() {
        await Promise.all(procs.map((s) => killAndWait(s.proc)));
        await redis.stop();
      },
    };
  });
}

export type SocketIoAdapter = 'redis' | 'streams';

/** Socket.IO servers with the pub/sub redis-adapter, or the streams adapter with connection state recovery. */
export function startSocketIo(adapter: SocketIoAdapter, servers = 2): Promise<RunningSystem> {
  return startServers({
    id: adapter === 'redis' ? 'baseline' : 'streams',
    kind: 'socketio',
    label: adapter === 'redis' ? 'Socket.IO + redis-adapter' : 'Socket.IO + streams-adapter',
    role: 'socket.io server', bin: BASELINE_BIN, args: [adapter], path: '',
  }, servers);
}

/** The ceiling: ws servers with Redis pub/sub, no queue, no storage. */
export function startCeiling(servers = 2): Promise<RunningSystem> {
  return startServers({ id: 'ceiling', kind: 'ceiling', label: 'ceiling (ws + pub/sub)', role: 'ws server', bin: CEILING_BIN, args: [], path: '' }, servers);
}
