// Probe: a heap snapshot of a push server holding N idle connections in 100 channels (run with PROGRAM_NODE_ARGS=--heapsnapshot-signal=SIGUSR2).
import { setTimeout as sleep } from 'node:timers/promises';
import { Loadgens } from '../dist/loadgens.js';
import { startOurs } from '../dist/systems.js';
const count = Number(process.argv[2] ?? 5000);
const system = await startOurs({ pushServers: 1, workers: 0, env: { MAX_CONNECTIONS_PER_IP: String(count + 1000) } });
const loadgens = Loadgens.start(1);
await loadgens.all(() => ({ op: 'idle', system: 'ours', url: system.urls[0], count, tag: 'idle', channels: 100 }), 'idle');
await sleep(3000);
process.kill(system.procs[0].pid, 'SIGUSR2');
await sleep(8000);
await loadgens.close(); await system.stop();
