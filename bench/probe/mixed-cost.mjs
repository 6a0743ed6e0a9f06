// Probe: what the mixed load (70 % messages, 20 % reactions, 10 % edits, typing) costs against
// messages alone at one rate in the rooms shape (200 channels × 10 members): one stack, one load,
// runs alternating between the two loads so the machine's drift falls on both alike. Prints per
// run p50/p99 and CPU s per 1,000 events by process, Redis commands per event; then the medians.
// The mix's two parts also run alone: messages with typing, and updates without typing.
// Run: [PROBE_LOADGENS=n] node bench/probe/mixed-cost.mjs [events/s] [runs] [env for our programs, A=1,B=2] [comma list of loads: messages,typing,updates,mixed]
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { Loadgens } from '../dist/loadgens.js';
import { connectLoad, runStep } from '../dist/sweep.js';
import { startOurs } from '../dist/systems.js';
import { commandCalls, median, probeEnv, probeMix, probePlan, serverCpu } from './lib.mjs';
const rate = Number(process.argv[2] ?? 1000); const runs = Number(process.argv[3] ?? 5);
const env = probeEnv(process.argv[4]);
const plan = probePlan(rate);
const system = await startOurs({ env });
const loadgens = Loadgens.start(Number(process.env.PROBE_LOADGENS ?? 2)); // PROBE_LOADGENS: load-generator processes
const load = await connectLoad(system, loadgens, plan);
const redis = new Redis(system.redisUrl);
const stats = () => commandCalls(redis);
// Write and read system calls of each process (/proc/<pid>/io), to tell frames from system calls.
const syscalls = () => Object.fromEntries([...system.procs, ...loadgens.tracked].map((p) => {
  const io = readFileSync(`/proc/${p.pid}/io`, 'utf8');
  return [p.name, { w: Number(/syscw: (\d+)/.exec(io)[1]), r: Number(/syscr: (\d+)/.exec(io)[1]) }];
}));
const loads = (process.argv[5] ?? 'messages,typing,updates,mixed').split(',').map((label) => {
  return { label, plan: { ...plan, mix: probeMix(label) }, steps: [] };
});
for (const l of loads) await runStep(system, loadgens, load, rate, 3000, l.plan); // warm-up
for (let r = 0; r < runs; r++) {
  for (const l of loads) {
    const before = await stats(); const ioBefore = syscalls();
    const s = await runStep(system, loadgens, load, rate, plan.stepMs, l.plan);
    const after = await stats(); const ioAfter = syscalls();
    const io = Object.entries(ioAfter).map(([n, v]) => `${n} w ${((v.w - ioBefore[n].w) / s.sent).toFixed(1)} r ${((v.r - ioBefore[n].r) / s.sent).toFixed(1)}`).join('  ');
    if (r === 0) console.log(`${l.label}, Redis commands per event: ${Object.entries(after).map(([k, v]) => [k, (v - (before[k] ?? 0)) / s.sent]).filter(([, v]) => v >= 0.01).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(2)}`).join('  ')}`);
    l.steps.push(s);
    const cpu = Object.entries(s.cpuPer1000).map(([n, v]) => `${n} ${v.toFixed(3)}`).join('  ');
    const kinds = (s.kinds ? ` kinds ${JSON.stringify(s.kinds)}` : '') + (s.updatesMs ? `, updates alone p50 ${s.updatesMs.p50} p99 ${s.updatesMs.p99} ms` : '');
    console.log(`${l.label} run ${r + 1}: p50 ${s.p50Ms} p99 ${s.p99Ms} ms, lost ${s.lost}${kinds}; CPU s/1000: ${cpu}; system calls per event: ${io}`);
  }
}
for (const { label, steps } of loads) {
  const byRole = Object.keys(steps[0].cpuPer1000ByRole).map((role) => `${role} ${median(steps.map((s) => s.cpuPer1000ByRole[role])).toFixed(3)}`).join('  ');
  console.log(`${label}: median p50 ${median(steps.map((s) => s.p50Ms))} p99 ${median(steps.map((s) => s.p99Ms))} ms; servers+Redis CPU s/1000 ${median(steps.map(serverCpu)).toFixed(3)} (${byRole})`);
}
redis.disconnect(); await loadgens.close(); await system.stop();
