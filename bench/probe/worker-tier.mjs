// Probe: the worker tier under one load at one rate (rooms shape): jobs per second, events per
// job, time per job (from the jobs' rate: one job of a partition runs at a time), the queue's
// waiting jobs at the end of the step, where the push servers answered update checks, and Redis
// time per event by command. Loads alternate.
// Run: node bench/probe/worker-tier.mjs [events/s] [runs] [comma list of loads: messages,typing,updates,mixed] [env A=1,B=2]
import { Redis } from 'ioredis';
import { Loadgens } from '../dist/loadgens.js';
import { connectLoad, runStep } from '../dist/sweep.js';
import { startOurs } from '../dist/systems.js';
import { commandStats, probeEnv, probeMix, probePlan } from './lib.mjs';
const rate = Number(process.argv[2] ?? 2500); const runs = Number(process.argv[3] ?? 2);
const env = probeEnv(process.argv[5]);
const plan = probePlan(rate);
const system = await startOurs({ env });
const loadgens = Loadgens.start(2);
const load = await connectLoad(system, loadgens, plan);
const redis = new Redis(system.redisUrl);
const counts = async () => {
  const ids = await redis.zrange('chat:workers', 0, -1);
  const out = { jobs: 0, stored: 0 };
  for (const id of ids) { const h = await redis.hgetall(`chat:worker:${id}:info`); out.jobs += Number(h.jobs ?? 0); out.stored += Number(h.stored ?? 0); }
  return out;
};
// Update checks before the ack, by where the push servers answered them (here or by a store read).
const checks = async () => {
  const out = { here: 0, store: 0 };
  for (const p of system.push) {
    const text = await (await fetch(`http://127.0.0.1:${p.port}/metrics`)).text();
    for (const m of text.matchAll(/^chat_update_checks_total\{answered="(here|store)"\} (\d+)/gm)) out[m[1]] += Number(m[2]);
  }
  return out;
};
const waiting = async () => { let n = 0; for (const k of await redis.keys('*:wait')) n += await redis.llen(k); return n; };
const loads = (process.argv[4] ?? 'messages,mixed').split(',').map((label) => ({ label, plan: { ...plan, mix: probeMix(label) } }));
for (const l of loads) await runStep(system, loadgens, load, Math.min(rate, 1500), 3000, l.plan); // warm-up
for (let r = 0; r < runs; r++) {
  for (const l of loads) {
    const k0 = await checks(); const c0 = await counts(); const s0 = await commandStats(redis); const t0 = Date.now();
    let peakWaiting = 0;
    const sampler = setInterval(() => { waiting().then((n) => { peakWaiting = Math.max(peakWaiting, n); }, () => undefined); }, 250);
    const s = await runStep(system, loadgens, load, rate, plan.stepMs, l.plan);
    clearInterval(sampler);
    await new Promise((res) => setTimeout(res, 600)); // the workers' counts flush every 500 ms
    const k1 = await checks(); const c1 = await counts(); const s1 = await commandStats(redis); const secs = (Date.now() - t0) / 1000;
    const jobs = c1.jobs - c0.jobs; const stored = c1.stored - c0.stored;
    const us = Object.entries(s1).map(([k, v]) => [k, (v.usec - (s0[k]?.usec ?? 0)) / stored, (v.calls - (s0[k]?.calls ?? 0)) / stored]).filter(([, u]) => u >= 0.5).sort((a, b) => b[1] - a[1]);
    const redisUs = us.reduce((a, [, u]) => a + u, 0);
    console.log(`${l.label} run ${r + 1}: p50 ${s.p50Ms} p99 ${s.p99Ms} ms lost ${s.lost} errors ${JSON.stringify(s.errors)}; jobs ${jobs} (${(jobs / secs).toFixed(0)}/s, ${(secs * 1000 / jobs).toFixed(2)} ms each), stored ${stored}, ${(stored / jobs).toFixed(1)} events/job; peak waiting ${peakWaiting}; update checks here ${k1.here - k0.here}, store ${k1.store - k0.store}; Redis ${redisUs.toFixed(1)} µs/event: ${us.slice(0, 6).map(([k, u, c]) => `${k} ${u.toFixed(1)} (${c.toFixed(2)} calls)`).join(', ')}; CPU s/1000 ${Object.entries(s.cpuPer1000ByRole).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(' ')}`);
  }
}
redis.disconnect(); await loadgens.close(); await system.stop();
