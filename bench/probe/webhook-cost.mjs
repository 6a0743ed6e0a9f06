// Probe: what webhooks cost the chat at one rate in the rooms shape (200 channels × 10 members):
// the same fixed-rate steps on a stack with webhooks off, then on one with webhooks on (to a
// local receiver that answers 204), each stack with its own load, the runs alternating. Prints
// per run p50/p99 and CPU s per 1,000 messages by process; then the medians.
// Run: node bench/probe/webhook-cost.mjs [msg/s] [runs] [extra env for the webhooks stack, A=1,B=2]
import { createServer } from 'node:http';
import { Redis } from 'ioredis';
import { Loadgens } from '../dist/loadgens.js';
import { connectLoad, runStep } from '../dist/sweep.js';
import { startOurs } from '../dist/systems.js';
import { commandCalls, median, probeEnv, probePlan, serverCpu } from './lib.mjs';
const rate = Number(process.argv[2] ?? 1000); const runs = Number(process.argv[3] ?? 5);
const extra = probeEnv(process.argv[4]);
const plan = probePlan(rate);
let events = 0; let requests = 0; let ages = [];
const receiver = createServer((req, res) => {
  let body = ''; req.on('data', (d) => { body += d; });
  req.on('end', () => {
    requests++;
    const now = Date.now();
    for (const m of body.matchAll(/"type":"message\.[a-z]+","timestamp":(\d+)/g)) { events++; ages.push(now - Number(m[1])); }
    res.writeHead(204).end();
  });
});
await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${receiver.address().port}/hooks`;
// Both stacks stay up, each with its own load; the runs alternate (off, on, off, on, …), so the
// machine's drift over the minutes falls on both alike. The stack not running is idle.
const stacks = [];
for (const [label, env] of [['off', {}], ['on', { WEBHOOK_URL: url, WEBHOOK_SECRET: 'probe-webhook-secret-0123456789', ...extra }]]) {
  const system = await startOurs({ env });
  const loadgens = Loadgens.start(2);
  const load = await connectLoad(system, loadgens, plan);
  const redis = new Redis(system.redisUrl);
  stacks.push({ label, system, loadgens, load, redis, steps: [] });
}
for (const st of stacks) await runStep(st.system, st.loadgens, st.load, rate, 3000, plan); // warm-up
const stats = commandCalls;
for (let r = 0; r < runs; r++) {
  for (const st of stacks) {
    const before = events; const requestsBefore = requests; ages = [];
    const statsBefore = await stats(st.redis);
    const s = await runStep(st.system, st.loadgens, st.load, rate, plan.stepMs, plan);
    const statsAfter = await stats(st.redis);
    if (r === 0) console.log(`webhooks ${st.label}, Redis commands per message: ${Object.entries(statsAfter).map(([k, v]) => [k, (v - (statsBefore[k] ?? 0)) / s.sent]).filter(([, v]) => v >= 0.01).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(2)}`).join('  ')}`);
    st.steps.push(s);
    const cpu = Object.entries(s.cpuPer1000).map(([n, v]) => `${n} ${v.toFixed(3)}`).join('  ');
    console.log(`webhooks ${st.label} run ${r + 1}: p50 ${s.p50Ms} p99 ${s.p99Ms} ms, lost ${s.lost}, hook events ${events - before} in ${requests - requestsBefore} requests${ages.length ? ` (stored → received p50 ${median(ages)} ms)` : ''}; CPU s/1000: ${cpu}`);
  }
}
for (const { label, steps } of stacks) {
  const byRole = Object.keys(steps[0].cpuPer1000ByRole).map((role) => `${role} ${median(steps.map((s) => s.cpuPer1000ByRole[role])).toFixed(3)}`).join('  ');
  console.log(`webhooks ${label}: median p50 ${median(steps.map((s) => s.p50Ms))} p99 ${median(steps.map((s) => s.p99Ms))} ms; servers+Redis CPU s/1000 ${median(steps.map(serverCpu)).toFixed(3)} (${byRole})`);
}
for (const st of stacks) { st.redis.disconnect(); await st.loadgens.close(); await st.system.stop(); }
receiver.close();
