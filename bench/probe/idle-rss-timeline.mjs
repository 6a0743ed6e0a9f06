// Probe: a server's RSS per idle connection over the 40 s after N connections (in 100 channels)
// are open, to see when it settles. Run: node bench/probe/idle-rss-timeline.mjs ours|ceiling|baseline|streams [N]
import { setTimeout as sleep } from 'node:timers/promises';
import { Loadgens } from '../dist/loadgens.js';
import { rssBytes } from '../dist/proc-stats.js';
import { startCeiling, startOurs, startSocketIo } from '../dist/systems.js';
const kind = process.argv[2] ?? 'ours'; const count = Number(process.argv[3] ?? 15000);
const system = kind === 'ours' ? await startOurs({ pushServers: 1, workers: 0, env: { MAX_CONNECTIONS_PER_IP: String(count + 1000) } })
  : kind === 'ceiling' ? await startCeiling(1) : await startSocketIo(kind === 'baseline' ? 'redis' : 'streams', 1);
const pid = system.procs[0].pid;
await sleep(3000);
const before = rssBytes(pid);
const loadgens = Loadgens.start(2);
const per = Math.ceil(count / 2);
await loadgens.all((i) => ({ op: 'idle', system: system.kind, url: system.urls[0], count: Math.min(per, count - i * per), tag: `idle${i}`, channels: 100 }), 'idle');
const start = Date.now(); const line = [];
for (let t = 0; t <= 40; t += 5) {
  while (Date.now() - start < t * 1000) await sleep(100);
  line.push(`${t}s ${((rssBytes(pid) - before) / count / 1024).toFixed(2)}`);
}
console.log(`${kind}: KB per connection after the last connected: ${line.join(', ')}`);
await loadgens.close(); await system.stop();
