// Probe: where an idle connection's memory goes in ours (RSS and the push server's own heap figures from its info hash).
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { Loadgens } from '../dist/loadgens.js';
import { rssBytes } from '../dist/proc-stats.js';
import { startOurs } from '../dist/systems.js';
import { probeEnv } from './lib.mjs';
const count = Number(process.argv[2] ?? 15000); const channels = Number(process.argv[3] ?? 100);
const system = await startOurs({ pushServers: 1, workers: 0, env: { MAX_CONNECTIONS_PER_IP: String(count + 1000), ...(probeEnv(process.argv[4])) } });
const redis = new Redis(system.redisUrl);
const info = async () => { await sleep(6000); const h = await redis.hgetall(`chat:push-server:${system.push[0].serverId}:info`); return { rss: rssBytes(system.procs[0].pid), heap: Number(h.heapUsed), ext: Number(h.external), total: Number(h.heapTotal) }; };
const before = await info();
const loadgens = Loadgens.start(2);
const per = Math.ceil(count / 2);
await loadgens.all((i) => ({ op: 'idle', system: 'ours', url: system.urls[0], count: Math.min(per, count - i * per), tag: `idle${i}`, channels }), 'idle');
const after = await info();
const kb = (k) => ((after[k] - before[k]) / count / 1024).toFixed(2);
console.log(`${count} connections in ${channels} channels: per connection RSS ${kb('rss')} KB, heapUsed ${kb('heap')} KB, external ${kb('ext')} KB, heapTotal ${kb('total')} KB`);
await loadgens.close(); redis.disconnect(); await system.stop();
