// Probe: two stacks of ours side by side (rooms shape), each with its own settings, load and load
// generators, stepped through the same rates with their runs alternating (A, B, A, B, …), so
// that the machine's drift falls on both alike (the stack not running is idle). For each rate
// and stack: per run p50/p99 (and the updates' own when the load has them), then the medians,
// CPU s per 1,000 events by role, and whether the rate held (median p99 ≤ 50 ms, none lost) and
// was kept up with (median p50 ≤ 50 ms, none lost), as the bench's sweep judges them.
// Run: node bench/probe/stacks-ab.mjs [rates, e.g. 4000,6000] [runs] [env A, e.g. QUEUE_PARTITIONS=2, or -] [env B] [load A: messages|typing|updates|mixed] [load B]
import { Loadgens } from '../dist/loadgens.js';
import { connectLoad, runStep } from '../dist/sweep.js';
import { startOurs } from '../dist/systems.js';
import { median, probeEnv, probeMix, probePlan, serverCpu } from './lib.mjs';
const rates = (process.argv[2] ?? '1000').split(',').map(Number); const runs = Number(process.argv[3] ?? 3);
const loadA = process.argv[6] ?? 'messages'; const loadB = process.argv[7] ?? loadA;
for (const l of [loadA, loadB]) probeMix(l); // an unknown name stops here, before any stack starts
const stacks = [];
for (const [label, e, l] of [['A', probeEnv(process.argv[4]), loadA], ['B', probeEnv(process.argv[5]), loadB]]) {
  const plan = { ...probePlan(rates[0]), mix: probeMix(l) };
  const system = await startOurs({ env: e });
  const loadgens = Loadgens.start(2);
  const load = await connectLoad(system, loadgens, plan);
  stacks.push({ label: `${label} (${l}${Object.keys(e).length ? ` ${JSON.stringify(e)}` : ''})`, system, loadgens, load, plan });
}
for (const st of stacks) await runStep(st.system, st.loadgens, st.load, Math.min(rates[0], 2000), 3000, st.plan); // warm-up
const verdicts = [];
for (const rate of rates) {
  const steps = stacks.map(() => []);
  for (let r = 0; r < runs; r++) {
    for (const [i, st] of stacks.entries()) {
      const s = await runStep(st.system, st.loadgens, st.load, rate, st.plan.stepMs, st.plan);
      steps[i].push(s);
      console.log(`${rate}/s ${st.label} run ${r + 1}: p50 ${s.p50Ms} p99 ${s.p99Ms} ms, lost ${s.lost}${s.updatesMs ? `, updates p50 ${s.updatesMs.p50} p99 ${s.updatesMs.p99}` : ''}`);
    }
  }
  for (const [i, st] of stacks.entries()) {
    const list = steps[i]; const lost = list.reduce((a, s) => a + s.lost + s.duplicates, 0);
    const p50 = median(list.map((s) => s.p50Ms)); const p99 = median(list.map((s) => s.p99Ms));
    const byRole = Object.keys(list[0].cpuPer1000ByRole).map((role) => `${role} ${median(list.map((s) => s.cpuPer1000ByRole[role])).toFixed(3)}`).join('  ');
    const line = `${rate}/s ${st.label}: median p50 ${p50} p99 ${p99} ms, ${p99 <= 50 && lost === 0 ? 'held' : p50 <= 50 && lost === 0 ? 'kept up' : 'NOT kept up'}; servers+Redis CPU s/1000 ${median(list.map(serverCpu)).toFixed(3)} (${byRole})`;
    console.log(line); verdicts.push(line);
  }
}
console.log('\n' + verdicts.join('\n'));
for (const st of stacks) { await st.loadgens.close(); await st.system.stop(); }
