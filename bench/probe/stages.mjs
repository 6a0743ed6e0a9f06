// Probe: where a message's time goes at one rate in the busy shape (20 channels × 10 members, one
// sender each, rate limit lifted), over several 6 s runs on one stack: end-to-end p50/p99 next to
// the push servers' enqueue latency (frame → job confirmed) and jobs per message.
// Run: node bench/probe/stages.mjs [msg/s] [runs]
import { Redis } from 'ioredis';
import { Loadgens } from '../dist/loadgens.js';
import { connectLoad, runStep } from '../dist/sweep.js';
import { startOurs } from '../dist/systems.js';
import { probePlan } from './lib.mjs';
const rate = Number(process.argv[2] ?? 1000); const runs = Number(process.argv[3] ?? 4);
const plan = probePlan(rate, { channels: 20, senders: 'one-per-channel' });
const system = await startOurs({ env: { RATE_LIMIT: '100000', RATE_BURST: '100000' } });
const loadgens = Loadgens.start(2);
const load = await connectLoad(system, loadgens, plan);
await runStep(system, loadgens, load, 500, 3000, plan);
const redis = new Redis(system.redisUrl);
const scrape = async () => {
  const out = { buckets: new Map(), count: 0, sum: 0 };
  for (const p of system.push) {
    const text = await (await fetch(`http://127.0.0.1:${p.port}/metrics`)).text();
    for (const line of text.split('\n')) {
      let m = /^chat_enqueue_latency_seconds_bucket\{le="([^"]+)"\} (\d+)/.exec(line);
      if (m) out.buckets.set(m[1], (out.buckets.get(m[1]) ?? 0) + Number(m[2]));
      m = /^chat_enqueue_latency_seconds_count (\d+)/.exec(line); if (m) out.count += Number(m[1]);
      m = /^chat_enqueue_latency_seconds_sum (\S+)/.exec(line); if (m) out.sum += Number(m[1]);
    }
  }
  const stats = await redis.info('commandstats');
  out.adds = Number(/cmdstat_evalsha:calls=(\d+)/.exec(stats)?.[1] ?? 0);
  out.incr = Number(/cmdstat_incr:calls=(\d+)/.exec(stats)?.[1] ?? 0);
  return out;
};
const quantile = (a, b, q) => {
  const n = b.count - a.count; let prev = 0;
  for (const [le, c] of b.buckets) { const d = c - (a.buckets.get(le) ?? 0); if (d >= q * n) return `≤${(Number(le) * 1000).toFixed(1)} ms`; prev = d; }
  return '>max';
};
for (let r = 0; r < runs; r++) {
  const a = await scrape();
  const s = await runStep(system, loadgens, load, rate, plan.stepMs, plan);
  const b = await scrape();
  const n = b.count - a.count;
  console.log(`run ${r + 1}: e2e p50 ${s.p50Ms} p99 ${s.p99Ms} ms; enqueue (frame → job confirmed) mean ${((b.sum - a.sum) / n * 1000).toFixed(2)} ms, p50 ${quantile(a, b, 0.5)}, p99 ${quantile(a, b, 0.99)}; EVALSHA per message ${((b.adds - a.adds) / n).toFixed(2)}`);
}
redis.disconnect(); await loadgens.close(); await system.stop();
