// Probe: Redis time per Lua script for ours at one rate (SLOWLOG at threshold 0 over one step).
// Run: node bench/probe/slowlog.mjs [msg/s] [mixed: the mixed load instead of messages alone]
// Also prints the persist step's calls by the events and updates they carried.
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { Redis } from 'ioredis';
import { loadScripts } from '@chat/shared';
import { Loadgens } from '../dist/loadgens.js';
import { connectLoad, runStep } from '../dist/sweep.js';
import { startOurs } from '../dist/systems.js';
import { probePlan } from './lib.mjs';
const rate = Number(process.argv[2] ?? 1000);
const sha = (s) => createHash('sha1').update(s).digest('hex');
const names = new Map(loadScripts().map((s) => [sha(s.lua), s.command]));
const dir = new URL('../../node_modules/bullmq/dist/esm/scripts/', import.meta.url);
for (const f of readdirSync(dir).filter((f) => f.endsWith('.js') && f !== 'index.js')) {
  const m = await import(new URL(f, dir).href);
  for (const v of Object.values(m)) if (v && typeof v.content === 'string') names.set(sha(v.content), `bullmq ${v.name}`);
}
const plan = probePlan(rate, { stepMs: 4000, longStepMs: 4000, ...(process.argv[3] === 'mixed' ? { mix: { updates: true, typing: true } } : {}) });
const system = await startOurs({});
const loadgens = Loadgens.start(2);
const load = await connectLoad(system, loadgens, plan);
await runStep(system, loadgens, load, 500, 3000, plan);
const redis = new Redis(system.redisUrl);
await redis.config('SET', 'slowlog-max-len', '200000');
await redis.config('SET', 'slowlog-log-slower-than', '0');
await redis.slowlog('RESET');
const s = await runStep(system, loadgens, load, rate, plan.stepMs, plan);
await redis.config('SET', 'slowlog-log-slower-than', '1000000');
const log = await redis.slowlog('GET', '200000');
const by = new Map();
for (const [, , us, args] of log) {
  const key = String(args[0]).toLowerCase() === 'evalsha' ? (names.get(String(args[1])) ?? `evalsha ${String(args[1]).slice(0, 8)}`) : String(args[0]).toLowerCase();
  const e = by.get(key) ?? { calls: 0, us: 0 }; e.calls++; e.us += Number(us); by.set(key, e);
}
console.log(`rate ${rate}: sent ${s.sent}, ${log.length} commands logged`);
// The persist step's calls by how many events they carried and how many of those were updates
// (SLOWLOG keeps the first 31 arguments: 12 before the events, then 3 per event; the last says
// how many more there were).
const persistCalls = new Map();
for (const [, , us, args] of log) {
  if (String(args[0]).toLowerCase() !== 'evalsha' || names.get(String(args[1])) !== 'chatPersistMessages') continue;
  const more = /^\.\.\. \((\d+) more arguments\)$/.exec(String(args[args.length - 1]));
  const total = more ? args.length - 1 + Number(more[1]) : args.length;
  const events = Math.floor((total - 12) / 3);
  if (events > 8) continue;
  let updates = 0;
  for (let i = 14; i < args.length; i += 3) if (String(args[i]) !== '') updates++;
  const key = `${events} event(s), ${updates} update(s)`;
  const e = persistCalls.get(key) ?? { calls: 0, us: [] }; e.calls++; e.us.push(Number(us)); persistCalls.set(key, e);
}
for (const [k, v] of [...persistCalls.entries()].sort()) {
  if (v.calls < 20) continue;
  const sorted = v.us.sort((a, b) => a - b);
  console.log(`persist, ${k.padEnd(26)} ${String(v.calls).padStart(6)} calls, mean ${(sorted.reduce((a, b) => a + b, 0) / sorted.length).toFixed(1)} us, p50 ${sorted[sorted.length >> 1]} us`);
}
for (const [k, v] of [...by.entries()].sort((a, b) => b[1].us - a[1].us).slice(0, 25)) {
  console.log(`${k.padEnd(34)} ${(v.calls / s.sent).toFixed(2).padStart(6)} calls/msg ${(v.us / s.sent).toFixed(1).padStart(7)} us/msg ${(v.us / v.calls).toFixed(1).padStart(7)} us/call`);
}
redis.disconnect(); await loadgens.close(); await system.stop();
