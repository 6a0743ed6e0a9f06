/**
 * `npm run bench`: this pipeline against the Socket.IO + redis-adapter baseline, in one run on
 * one machine. Wires the pieces: systems, load generators, the sweep, the idle test, the report.
 */
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { measureIdle, type IdleResult } from './idle.js';
import { Loadgens } from './loadgens.js';
import { atRate, chart, markdown, serverCpu, type BenchResult, type Machine } from './report.js';
import { connectLoad, runStep, sweep, type SweepPlan, type SweepResult } from './sweep.js';
import { startBaseline, startOurs, type RunningSystem } from './systems.js';

const BENCH_DIR = fileURLToPath(new URL('../', import.meta.url));
const TARGET_RATE = 1000;
const IDLE_CONNECTIONS = 15_000;

const positiveInt = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
};

const program = new Command('npm run bench --')
  .description('Side-by-side benchmark: this pipeline vs Socket.IO with @socket.io/redis-adapter.')
  .option('--quick', 'short steps and a coarse sweep (under 2 minutes); writes results/quick.*')
  // Any of the options below makes a custom run: results/custom.*, leaving latest.* alone.
  .option('--cluster', 'also run our stack on a local 3-master Redis Cluster')
  .option('--only <systems>', 'comma list of ours, baseline, cluster, mixed (default: ours,baseline[,cluster])')
  .option('--webhooks', 'also run ours with webhooks on, to a local receiver (events delivered per second, and the cost)')
  .option('--mixed', 'also run ours under the mixed load: 70 % messages, 20 % reactions, 10 % edits, each author typing once a second for 2 s before its turn')
  .option('--channels <n>', 'channels in the load', positiveInt)
  .option('--members <n>', 'members per channel', positiveInt, 10)
  .option('--rates <list>', 'comma list of rates (msg/s) to step through instead of the default sweep', (v: string) => v.split(',').map((r) => {
    const n = Number(r);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`"${r}" is not a positive integer`);
    return n;
  }))
  .option('--no-idle', 'skip the idle-connection memory test')
  .showHelpAfterError('(run with --help for usage)');
program.parse(process.argv);
const opts = program.opts<{ quick?: boolean; cluster?: boolean; mixed?: boolean; webhooks?: boolean; only?: string; channels?: number; members: number; rates?: number[]; idle: boolean }>();

const quick = opts.quick === true;
const plan: SweepPlan = {
  channels: opts.channels ?? 200,
  members: opts.members,
  rates: opts.rates ?? (quick ? [1000, 2000, 4000, 6000, 8000, 12000, 16000] : [1000, 2000, 3000, 4000, 5000, 6000, 8000, 10000, 12000, 14000, 16000, 20000, 24000]),
  // Full steps last 30 s so that each spans Socket.IO's 25 s heartbeat (every connection pinged
  // at once) and several of our 5 s heartbeats: periodic work counts the same in every step.
  stepMs: quick ? 2000 : 30_000,
  longStepMs: quick ? 3000 : 30_000,
  longRates: [TARGET_RATE],
  settleMs: quick ? 2000 : 3000,
  rampMs: quick ? 500 : 1000,
  p99BoundMs: 50,
  stopP99Ms: 200,
  refine: quick ? 0 : 2,
};
const wanted = (opts.only ?? ['ours', 'baseline', ...(opts.cluster ? ['cluster'] : []), ...(opts.mixed ? ['mixed'] : []), ...(opts.webhooks ? ['webhooks'] : [])].join(',')).split(',').map((s) => s.trim());
for (const w of wanted) {
  if (!['ours', 'baseline', 'cluster', 'mixed', 'webhooks'].includes(w)) program.error(`--only: unknown system "${w}"; use ours, baseline, cluster, mixed or webhooks`);
}

const log = (line: string): void => { process.stdout.write(`${line}\n`); };

function machine(): Machine {
  const version = (cmd: string, args: string[], pattern: RegExp): string => {
    try { return pattern.exec(execFileSync(cmd, args, { encoding: 'utf8' }))?.[1] ?? 'unknown'; } catch { return 'unknown'; }
  };
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    redis: version('redis-server', ['--version'], /v=(\S+)/),
    os: existsSync('/etc/debian_version') ? `Debian ${readFileSync('/etc/debian_version', 'utf8').trim()}` : process.platform,
  };
}

async function withSystem<T>(start: () => Promise<RunningSystem>, body: (s: RunningSystem) => Promise<T>): Promise<T> {
  const system = await start();
  try { return await body(system); } finally { await system.stop(); }
}

async function benchSystem(start: () => Promise<RunningSystem>, stepPlan: SweepPlan = plan): Promise<SweepResult> {
  return withSystem(start, async (system) => {
    const loadgens = Loadgens.start(2);
    try {
      const connections = await connectLoad(system, loadgens, plan);
      log(`${system.label}: ${connections} members connected`);
      // Warm-up (JIT, connection pools); not recorded.
      await runStep(system, loadgens, 500, quick ? 1000 : 3000, stepPlan);
      return await sweep(system, loadgens, stepPlan, log);
    } finally {
      await loadgens.close();
    }
  });
}

/** A webhook endpoint that counts the events it acknowledges (no signature check: that is the tests' job). */
async function startReceiver(): Promise<{ url: string; readonly events: number; close(): void }> {
  let events = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => { body += d.toString(); });
    req.on('end', () => {
      events += (body.match(/"type":"/g)?.length ?? 0) - (body.match(/"type":"(?:message|update)"/g)?.length ?? 0);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`, get events() { return events; }, close: () => server.close() };
}

/** The bench starts its own Redis servers: stop at once, in one line, when it cannot. */
function requireRedisServer(): void {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
  } catch {
    process.stderr.write('bench: redis-server is not installed or not on PATH: install it (apt-get install redis-server) and run again\n');
    process.exit(1);
  }
}

async function main(): Promise<void> {
  requireRedisServer();
  const started = Date.now();
  const systems: SweepResult[] = [];
  const idle: IdleResult[] = [];
  log(`bench (${quick ? 'quick' : 'full'}): ${plan.channels} channels × ${plan.members} members, rates ${plan.rates.join(', ')} msg/s`);
  if (wanted.includes('ours')) systems.push(await benchSystem(() => startOurs()));
  if (wanted.includes('baseline')) systems.push(await benchSystem(() => startBaseline()));
  if (wanted.includes('cluster')) systems.push(await benchSystem(() => startOurs({ cluster: true })));
  if (wanted.includes('webhooks')) {
    const receiver = await startReceiver();
    const hooked = async (): Promise<RunningSystem> => ({
      ...(await startOurs({ env: { WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: 'bench-webhook-secret-0123456789' } })),
      id: 'ours-webhooks', label: 'ours, webhooks on', counters: () => ({ 'webhook events': receiver.events }),
    });
    try { systems.push(await benchSystem(hooked)); } finally { receiver.close(); }
  }
  if (wanted.includes('mixed')) {
    const mixed = async (): Promise<RunningSystem> => ({ ...(await startOurs()), id: 'ours-mixed', label: 'ours, mixed load' });
    systems.push(await benchSystem(mixed, { ...plan, mix: true }));
  }
  if (opts.idle) {
    const idleSystems: (() => Promise<RunningSystem>)[] = [];
    if (wanted.includes('ours')) idleSystems.push(() => startOurs({ pushServers: 1, workers: 0, env: { MAX_CONNECTIONS_PER_IP: String(IDLE_CONNECTIONS + 1000) } }));
    if (wanted.includes('baseline')) idleSystems.push(() => startBaseline(1));
    for (const start of idleSystems) {
      const r = await withSystem(start, (s) => measureIdle(s, IDLE_CONNECTIONS, 2));
      log(`${r.label}: ${r.connections} idle connections, ${(r.bytesPerConnection / 1024).toFixed(1)} KB each ` +
        `(RSS ${(r.rssBeforeBytes / 2 ** 20).toFixed(0)} → ${(r.rssAfterBytes / 2 ** 20).toFixed(0)} MB)`);
      idle.push(r);
    }
  }
  const find = (id: string): SweepResult | undefined => systems.find((s) => s.id === id);
  const ours = find('ours'); const baseline = find('baseline');
  const oursCpu = serverCpu(ours && atRate(ours, TARGET_RATE));
  const baseCpu = serverCpu(baseline && atRate(baseline, TARGET_RATE));
  const result: BenchResult = {
    date: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
    durationSeconds: (Date.now() - started) / 1000,
    machine: machine(),
    load: { channels: plan.channels, members: plan.members, loadgens: 2, rampMs: plan.rampMs, stepMs: plan.stepMs, longStepMs: plan.longStepMs, p99BoundMs: plan.p99BoundMs, targetRate: TARGET_RATE },
    systems,
    idle,
    ratios: {
      throughput: ours?.maxSustained && baseline?.maxSustained ? ours.maxSustained.messagesPerSecond / baseline.maxSustained.messagesPerSecond : null,
      cpuPer1000AtTarget: oursCpu !== undefined && baseCpu ? oursCpu / baseCpu : null,
    },
  };
  // Only a full default run replaces the committed results; other runs keep theirs apart.
  const custom = opts.rates !== undefined || opts.only !== undefined || opts.channels !== undefined || opts.members !== 10 || !opts.idle || opts.mixed === true || opts.webhooks === true;
  const name = quick ? 'quick' : custom ? 'custom' : 'latest';
  const dir = `${BENCH_DIR}results`;
  mkdirSync(dir, { recursive: true });
  const table = markdown(result);
  writeFileSync(`${dir}/${name}.json`, `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(`${dir}/${name}.md`, table);
  writeFileSync(`${dir}/${name}.svg`, chart(result));
  if (name === 'latest') updateReadme(table);
  log('');
  log(table);
  log(`results: bench/results/${name}.json, ${name}.md, ${name}.svg (${Math.round(result.durationSeconds)} s)`);
}

/** Replaces the results section of bench/README.md with the new table. */
function updateReadme(table: string): void {
  const path = `${BENCH_DIR}README.md`;
  if (!existsSync(path)) return;
  const text = readFileSync(path, 'utf8');
  const start = '<!-- results:start -->';
  const end = '<!-- results:end -->';
  const a = text.indexOf(start); const b = text.indexOf(end);
  if (a < 0 || b < a) return;
  writeFileSync(path, `${text.slice(0, a + start.length)}\n${table}${text.slice(b)}`);
}

main().catch((err: Error) => {
  process.stderr.write(`bench: ${err.message}\n`);
  process.exit(1);
});
