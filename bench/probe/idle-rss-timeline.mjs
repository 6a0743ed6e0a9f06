// Probe: a server's RSS per idle connection over the S s (default 40) after N connections (in 100
// channels) are open, to see when it settles; for ours also the V8 heap per connection (total
// and used, from /metrics), so that garbage waiting for a collection shows beside what is live,
// and the idle collections it ran (push-server/src/idle-gc.ts).
// Run: node bench/probe/idle-rss-timeline.mjs ours|ceiling|baseline|streams [N] [S]
import { setTimeout as sleep } from 'node:timers/promises';
import { Loadgens } from '../dist/loadgens.js';
import { rssBytes } from '../dist/proc-stats.js';
import { startCeiling, startOurs, startSocketIo } from '../dist/systems.js';
const kind = process.argv[2] ?? 'ours'; const count = Number(process.argv[3] ?? 15000); const seconds = Number(process.argv[4] ?? 40);
const system = kind === 'ours' ? await startOurs({ pushServers: 1, workers: 0, env: { MAX_CONNECTIONS_PER_IP: String(count + 1000) } })
  : kind === 'ceiling' ? await startCeiling(1) : await startSocketIo(kind === 'baseline' ? 'redis' : 'streams', 1);
const pid = system.procs[0].pid;
const heap = async () => {
  if (kind !== 'ours') return undefined;
  const text = await (await fetch(`${system.urls[0].replace(/^ws/, 'http')}/metrics`)).text();
  const value = (name) => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? NaN);
  return { total: value('nodejs_heap_size_total_bytes'), used: value('nodejs_heap_size_used_bytes'), gcs: value('chat_idle_gc_pause_seconds_count'), gcSeconds: value('chat_idle_gc_pause_seconds_sum') };
};
await sleep(3000);
const before = rssBytes(pid); const heapBefore = await heap();
const loadgens = Loadgens.start(2);
const per = Math.ceil(count / 2);
await loadgens.all((i) => ({ op: 'idle', system: system.kind, url: system.urls[0], count: Math.min(per, count - i * per), tag: `idle${i}`, channels: 100 }), 'idle');
const start = Date.now(); const line = [];
const kb = (bytes) => (bytes / count / 1024).toFixed(2);
for (let t = 0; t <= seconds; t += 5) {
  while (Date.now() - start < t * 1000) await sleep(100);
  const h = await heap();
  const gcs = h && h.gcs > 0 ? `, ${h.gcs} idle collection(s), mean pause ${(h.gcSeconds / h.gcs * 1000).toFixed(1)} ms` : '';
  line.push(`${t}s ${kb(rssBytes(pid) - before)}${h ? ` (heap ${kb(h.total - heapBefore.total)}, used ${kb(h.used - heapBefore.used)}${gcs})` : ''}`);
}
console.log(`${kind}: KB per connection after the last connected: ${line.join(', ')}`);
await loadgens.close(); await system.stop();
