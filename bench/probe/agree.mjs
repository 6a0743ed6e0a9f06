// Tool: do two bench runs agree? Prints the 16 ratios of two result files (rooms and busy shapes)
// side by side as the markdown table of bench/README.md "Runs recorded", each marked by whether
// the two agree within 15 % (the larger at most 1.15 × the smaller), and the count that do.
// Run: node bench/probe/agree.mjs A.json B.json ["run A heading"] ["run B heading"]
import { readFileSync } from 'node:fs';
const [a, b] = process.argv.slice(2, 4).map((f) => JSON.parse(readFileSync(f, 'utf8')).ratios);
const [ha, hb] = [process.argv[4] ?? 'A', process.argv[5] ?? 'B'];
const rows = [
  ['sustained/baseline', 'held (p99 ≤ 50 ms), ours / redis-adapter'], ['sustained/streams', 'held, ours / streams'],
  ['sustained/ceiling', 'held, ours / ceiling'], ['keptUp/baseline', 'kept up (p50 ≤ 50 ms), ours / redis-adapter'],
  ['keptUp/streams', 'kept up, ours / streams'], ['keptUp/ceiling', 'kept up, ours / ceiling'],
  ['p99AtTarget/baseline', 'p99 at 1,000 msg/s, ours / redis-adapter'], ['cpuAtTarget/baseline', 'server CPU per message at 1,000 msg/s, ours / redis-adapter'],
];
let agree = 0; let total = 0;
console.log(`| | ${ha} | ${hb} | agree within 15 %? |\n|---|---:|---:|:---:|`);
for (const shape of ['rooms', 'busy']) {
  for (const [key, label] of rows) {
    const [x, y] = [a[shape]?.[key], b[shape]?.[key]];
    const ok = x > 0 && y > 0 && Math.max(x, y) / Math.min(x, y) <= 1.15;
    total++; if (ok) agree++;
    const f = (v) => (v == null ? '–' : `${v.toFixed(2)}×`);
    console.log(`| ${shape}: ${label} | ${f(x)} | ${f(y)} | ${ok ? 'yes' : '**no**'} |`);
  }
}
console.log(`\n${agree} of ${total} agree`);
