// Probe: per-connection heap growth by object kind between two heap snapshots (idle-compare.mjs).
// Run: node bench/probe/idle-diff.mjs before.heapsnapshot after.heapsnapshot N
import { readFileSync } from 'node:fs';
function aggregate(path) {
  const snap = JSON.parse(readFileSync(path, 'utf8'));
  const { node_fields: f, node_types: [types] } = snap.snapshot.meta;
  const [iType, iName, iSize] = ['type', 'name', 'self_size'].map((k) => f.indexOf(k));
  const out = new Map(); let total = 0;
  for (let i = 0; i < snap.nodes.length; i += f.length) {
    const t = types[snap.nodes[i + iType]];
    const name = /string/.test(t) ? '' : snap.strings[snap.nodes[i + iName]].slice(0, 60);
    const key = `${t} ${name}`;
    const a = out.get(key) ?? { n: 0, size: 0 }; a.n++; a.size += snap.nodes[i + iSize]; total += snap.nodes[i + iSize];
    out.set(key, a);
  }
  return { out, total };
}
const [a, b, n] = [aggregate(process.argv[2]), aggregate(process.argv[3]), Number(process.argv[4])];
console.log(`heap growth per connection: ${((b.total - a.total) / n).toFixed(0)} bytes`);
const rows = [...b.out].map(([k, v]) => [k, (v.size - (a.out.get(k)?.size ?? 0)) / n, (v.n - (a.out.get(k)?.n ?? 0)) / n]);
for (const [k, size, count] of rows.sort((x, y) => y[1] - x[1]).slice(0, 40)) console.log(size.toFixed(0).padStart(6), count.toFixed(2).padStart(6), k);
