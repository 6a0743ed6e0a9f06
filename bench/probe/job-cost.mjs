// Probe: worker and Redis CPU per job for one-message jobs at a fixed job rate (no push servers, no members).
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { InboundQueues, RedisKeys } from '@chat/shared';
import { RedisServer } from '../../test/dist/helpers/redis-server.js';
import { startWorker } from '../../test/dist/helpers/programs.js';
import { cpuSnapshot } from '../dist/proc-stats.js';
import { commandCalls, probeEnv } from './lib.mjs';
const rate = Number(process.argv[2] ?? 300);
const seconds = Number(process.argv[3] ?? 10);
const server = await RedisServer.start();
const redis = new Redis(server.url);
const env = { REDIS_URL: server.url, ...(probeEnv(process.argv[4])) };
const worker = await startWorker(env);
const queues = new InboundQueues(redis, new RedisKeys(), Number(env.QUEUE_PARTITIONS ?? 1));
await sleep(2000);
const tracked = [{ role: 'worker', name: 'worker', pid: worker.pid }, { role: 'redis', name: 'redis', pid: server.pid }, { role: 'bench', name: 'bench', pid: process.pid }];
const stats = () => commandCalls(redis);
const statsBefore = await stats();
const before = cpuSnapshot(tracked); const t0 = performance.now();
const n = rate * seconds; let done = 0;
for (let i = 0; i < n; i++) {
  const due = t0 + (i * 1000) / rate; const wait = due - performance.now(); if (wait > 0) await sleep(wait);
  await queues.enqueue({ channel: `c-${i % 200}`, id: `j-${i}`, author: 'probe', text: `job ${i} ${'x'.repeat(40)}`, receivedAt: Date.now() });
  done++;
}
for (;;) { const c = await queues.counts(); if (c.waiting + c.active === 0) break; await sleep(20); }
const secs = (performance.now() - t0) / 1000; const after = cpuSnapshot(tracked);
const per = (name) => (((after.get(name) - before.get(name)) / done) * 1e6).toFixed(0);
const statsAfter = await stats();
console.log(Object.entries(statsAfter).map(([k, v]) => [k, (v - (statsBefore[k] ?? 0)) / done]).filter(([, v]) => v > 0.01).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', '));
console.log(`${done} one-message jobs at ${rate}/s over ${secs.toFixed(1)} s: CPU per job worker ${per('worker')} us, redis ${per('redis')} us, producer ${per('bench')} us`);
await queues.close(); redis.disconnect(); await worker.kill(process.env.PROGRAM_NODE_ARGS ? 'SIGTERM' : 'SIGKILL'); await server.stop();
