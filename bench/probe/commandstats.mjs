// Probe: Redis commands per message for ours at one rate (INFO commandstats before/after a step).
import { Redis } from 'ioredis';
import { Loadgens } from '../dist/loadgens.js';
import { connectLoad, runStep } from '../dist/sweep.js';
import { startOurs } from '../dist/systems.js';
import { commandStats, probeEnv, probePlan } from './lib.mjs';
const rate = Number(process.argv[2] ?? 1000);
const env = probeEnv(process.argv[3]);
const plan = probePlan(rate);
const system = await startOurs({ env });
const loadgens = Loadgens.start(2);
const load = await connectLoad(system, loadgens, plan);
await runStep(system, loadgens, load, 500, 3000, plan);
const redis = new Redis(system.redisUrl);
const stats = () => commandStats(redis);
const before = await stats();
const s = await runStep(system, loadgens, load, rate, plan.stepMs, plan);
const after = await stats();
const rows = Object.entries(after).map(([k, v]) => [k, v.calls - (before[k]?.calls ?? 0), v.usec - (before[k]?.usec ?? 0)]).filter((r) => r[1] > 0).sort((a, b) => b[2] - a[2]);
console.log(`rate ${rate}: sent ${s.sent}, p50 ${s.p50Ms} p99 ${s.p99Ms}, cpu ${JSON.stringify(s.cpuPer1000ByRole)}`);
let calls = 0; let usec = 0;
for (const [k, c, u] of rows) { calls += c; usec += u; console.log(`${k.padEnd(22)} ${(c / s.sent).toFixed(2).padStart(7)} calls/msg ${(u / s.sent).toFixed(1).padStart(7)} us/msg`); }
console.log(`total ${(calls / s.sent).toFixed(2)} calls/msg, ${(usec / s.sent).toFixed(1)} us/msg of command time`);
redis.disconnect(); await loadgens.close(); await system.stop();
