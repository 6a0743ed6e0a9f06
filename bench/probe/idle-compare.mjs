// Probe: heap snapshots of one server (ours or the ceiling) before and after N idle connections
// in 100 channels, for a per-connection diff by object kind (see idle-diff.mjs); with LATER, a
// third one that many seconds later (does an idle server's heap grow?).
// Run: node bench/probe/idle-compare.mjs ours|ceiling N OUTDIR [LATER]
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Loadgens } from '../dist/loadgens.js';
import { startOurs, startCeiling } from '../dist/systems.js';
const [kind = 'ours', n = '5000', out = '.', later] = process.argv.slice(2);
const count = Number(n);
process.chdir(out);
process.env.PROGRAM_NODE_ARGS = '--heapsnapshot-signal=SIGUSR2';
const system = kind === 'ours'
  ? await startOurs({ pushServers: 1, workers: 0, env: { MAX_CONNECTIONS_PER_IP: String(count + 1000) } })
  : await startCeiling(1);
const pid = system.procs[0].pid;
const snap = async () => { const before = readdirSync('.').length; process.kill(pid, 'SIGUSR2'); while (readdirSync('.').length === before) await sleep(200); await sleep(3000); };
await sleep(2000);
await snap();
const loadgens = Loadgens.start(1);
await loadgens.all(() => ({ op: 'idle', system: kind === 'ours' ? 'ours' : 'ceiling', url: system.urls[0], count, tag: 'idle', channels: 100 }), 'idle');
await sleep(3000);
await snap();
if (later) { await sleep(Number(later) * 1000); await snap(); }
await loadgens.close(); await system.stop();
