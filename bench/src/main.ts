/**
 * `npm run bench`: this pipeline against the peers a user would pick instead (Socket.IO with the
 * Redis pub/sub adapter, Socket.IO with the Redis streams adapter and connection state
 * recovery) and against the ceiling of the design (ws + Redis pub/sub, no queue, no storage), in
 * one run on one machine, in two load shapes. Wires the pieces: systems, load generators, the
 * sweep, the idle test, the report.
 */
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { bigRoom } from './bigroom.js';
import { drainOnce, type DrainResult } from './drain.js';
import { IDLE_HOLD_MS, measureIdle, type IdleResult } from './idle.js';
import type { Senders } from './loadgen.js';
import { Loadgens } from './loadgens.js';
import { chart, markdown, shapeRatios, type BenchResult, type Machine, type ShapeResult } from './report.js';
import { connectLoad, runRate, sweep, type SweepPlan, type SweepResult } from './sweep.js';
import { startCeiling, startOurs, startSocketIo, type RunningSystem } from './systems.js';

const BENCH_DIR = fileURLToPath(new URL('../', import.meta.url));
const TARGET_RATE = 1000;
const IDLE_CONNECTIONS = 15_000;
const IDLE_CHANNELS = 100;
/** Ours with the per-connection rate limit lifted (a busy sender is a bot or a bridge the operator trusts). */
const LIFTED = { RATE_LIMIT: '100000', RATE_BURST: '100000' };

const positiveInt = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
};
const list = (v: string): string[] => v.split(',').map((x) => x.trim()).filter((x) => x.length > 0);

interface Shape { id: string; label: string; channels: number; members: number; senders: Senders; oursEnv: Record<string, string>; rates: number[]; quickRates: number[] }
const SHAPES: Shape[] = [
  { id: 'rooms', label: '200 channels × 10 members, every member sends in turn', channels: 200, members: 10, senders: 'all', oursEnv: {},
    rates: [1000, 2000, 3000, 4000, 6000, 8000, 10000, 12000, 16000, 20000, 24000], quickRates: [1000, 2000, 4000, 8000, 12000, 16000] },
  { id: 'busy', label: '20 channels × 10 members, one busy sender per channel', channels: 20, members: 10, senders: 'one-per-channel', oursEnv: LIFTED,
    rates: [1000, 2000, 3000, 4000, 6000, 8000, 10000, 12000, 16000, 20000, 24000], quickRates: [1000, 2000, 4000, 8000, 12000, 16000] },
  { id: 'single', label: 'one connection sending to a channel of 5 members (rate limit lifted)', channels: 1, members: 5, senders: 'one-per-channel', oursEnv: LIFTED,
    rates: [1000, 2000, 3000, 5000, 7000, 10000, 14000], quickRates: [1000, 3000, 5000, 8000] },
];
const SYSTEMS = ['ours', 'ours-4p', 'ours-auth', 'baseline', 'streams', 'ceiling', 'cluster', 'mixed', 'webhooks'];

const program = new Command('npm run bench --')
  .description('Side-by-side benchmark: this pipeline vs Socket.IO (redis-adapter, streams-adapter) and the ceiling (ws + pub/sub).')
  .option('--quick', 'short single runs and a coarse sweep (a few minutes); writes results/quick.*')
  // Any of the options below makes a custom run: results/custom.*, leaving latest.* alone.
  .option('--cluster', 'also run our stack on a local 3-master Redis Cluster (rooms shape)')
  .option('--only <systems>', `comma list of ${SYSTEMS.join(', ')} (default: ours, baseline, streams, ceiling; ours-4p is ours with QUEUE_PARTITIONS=4, ours-auth ours with authentication on and a channels claim per member)`, list)
  .option('--shapes <shapes>', `comma list of ${SHAPES.map((s) => s.id).join(', ')} (default: all; single runs ours only)`, list)
  .option('--webhooks', 'also run ours with webhooks on, to a local receiver (rooms shape)')
  .option('--mixed', 'also run ours under the mixed load: 70 % messages, 20 % reactions, 10 % edits, every member typing once a second (rooms shape)')
  .option('--repeats <n>', 'runs per rate, reported by their median (default 3; 1 with --quick)', positiveInt)
  .option('--channels <n>', 'channels in the rooms shape', positiveInt)
  .option('--members <n>', 'members per channel in the rooms shape', positiveInt)
  .option('--rates <list>', 'comma list of rates (msg/s) to step through instead of the default sweep', (v: string) => v.split(',').map((r) => {
    const n = Number(r);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`"${r}" is not a positive integer`);
    return n;
  }))
  .option('--no-idle', 'skip the idle-connection memory test')
  .option('--ours-env <list>', 'extra settings for our programs, e.g. QUEUE_PARTITIONS=4,ENQUEUE_LINGER_MS=2', (v: string) => Object.fromEntries(list(v).map((kv) => {
    const at = kv.indexOf('=');
    if (at < 1) throw new InvalidArgumentError(`"${kv}" is not NAME=value`);
    return [kv.slice(0, at), kv.slice(at + 1)];
  })))
  .option('--bigroom', 'instead of the sweep: one channel of 10,000 members over 2 push servers at 10 msg/s, steady and while 1,000 leave and join (results/bigroom.*)')
  .option('--drain', 'instead of the sweep: drain a pre-loaded backlog with 1, 2 and 4 workers (results/drain.*)')
  .option('--drain-partitions <list>', 'QUEUE_PARTITIONS values for --drain (default 1,2,4)', (v: string) => v.split(',').map(Number))
  .showHelpAfterError('(run with --help for usage)');
program.parse(process.argv);
const opts = program.opts<{
  quick?: boolean; cluster?: boolean; mixed?: boolean; webhooks?: boolean; only?: string[]; shapes?: string[]; repeats?: number;
  channels?: number; members?: number; rates?: number[]; idle: boolean; bigroom?: boolean; drain?: boolean; drainPartitions?: number[]; oursEnv?: Record<string, string>;
}>();

const quick = opts.quick === true;
const wanted = opts.only ?? ['ours', 'baseline', 'streams', 'ceiling', ...(opts.cluster ? ['cluster'] : []), ...(opts.mixed ? ['mixed'] : []), ...(opts.webhooks ? ['webhooks'] : [])];
for (const w of wanted) if (!SYSTEMS.includes(w)) program.error(`--only: unknown system "${w}"; use ${SYSTEMS.join(', ')}`);
const shapes = (opts.shapes ?? SHAPES.map((s) => s.id)).map((id) => SHAPES.find((s) => s.id === id) ?? program.error(`--shapes: unknown shape "${id}"; use ${SHAPES.map((s) => s.id).join(', ')}`));
const repeats = opts.repeats ?? (quick ? 1 : 3);

function planFor(shape: Shape): SweepPlan {
  const rooms = shape.id === 'rooms';
  const stepMs = quick ? 2000 : 6000;
  return {
    channels: rooms ? opts.channels ?? shape.channels : shape.channels,
    members: rooms ? opts.members ?? shape.members : shape.members,
    senders: shape.senders,
    repeats,
    rates: opts.rates ?? (quick ? shape.quickRates : shape.rates),
    stepMs,
    longStepMs: stepMs,
    longRates: [],
    settleMs: quick ? 2000 : 3000,
    rampMs: quick ? 500 : 1000,
    p99BoundMs: 50,
    keepUpP50Ms: 50,
    refine: quick ? 0 : 1,
  };
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

async function benchSystem(start: () => Promise<RunningSystem>, plan: SweepPlan, shape: Shape): Promise<SweepResult> {
  return withSystem(start, async (system) => {
    const loadgens = Loadgens.start(2);
    try {
      const load = await connectLoad(system, loadgens, plan);
      log(`${system.label} (${shape.id}): ${load.connections} members connected`);
      // Warm-up (JIT, connection pools); not recorded.
      await runRate(system, loadgens, load, 500, quick ? 1000 : 3000, { ...plan, repeats: 1 });
      return { ...(await sweep(system, loadgens, load, plan, log)), shape: shape.id };
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

/** `--drain`: the worker tier's capacity with 1, 2 and 4 workers, per partition count. */
async function drainMain(): Promise<void> {
  const plan = { messages: quick ? 20_000 : 60_000, channels: 600, perJob: 20 };
  log(`drain: ${plan.messages} messages over ${plan.channels} channels, jobs of ~${plan.perJob} messages, pre-loaded while the queue is paused`);
  const results: DrainResult[] = [];
  for (const partitions of opts.drainPartitions ?? [1, 2, 4]) {
    for (const workers of [1, 2, 4]) {
      const r = await drainOnce(partitions, workers, plan);
      results.push(r);
      log(`  ${partitions} partition(s), ${workers} worker(s): ${num(r.messagesPerSecond)} msg/s (${r.seconds} s); cores ${Object.entries(r.cores).map(([k, v]) => `${k} ${v}`).join(' ')}`);
    }
  }
  const lines = ['| partitions | workers | msg/s | vs 1 worker | CPU s per 1,000 msgs: workers | Redis | cores used: each worker | Redis |', '|---:|---:|---:|---:|---:|---:|---|---:|'];
  for (const r of results) {
    const one = results.find((x) => x.partitions === r.partitions && x.workers === 1);
    const workerCores = Object.entries(r.cores).filter(([k]) => k.startsWith('worker')).map(([, v]) => v.toFixed(2)).join(', ');
    lines.push(`| ${r.partitions} | ${r.workers} | ${num(r.messagesPerSecond)} | ${one ? `${(r.messagesPerSecond / one.messagesPerSecond).toFixed(2)}×` : '–'} | ` +
      `${r.cpuPer1000ByRole.worker?.toFixed(3) ?? '–'} | ${r.cpuPer1000ByRole.redis?.toFixed(3) ?? '–'} | ${workerCores} | ${r.cores.redis?.toFixed(2) ?? '–'} |`);
  }
  const table = `Drain ${new Date().toISOString()}: ${num(plan.messages)} messages over ${plan.channels} channels in jobs of ~${plan.perJob}.\n\n${lines.join('\n')}\n`;
  writeResults(quick ? 'drain-quick' : 'drain', { date: new Date().toISOString(), machine: machine(), plan, results }, table);
  log('');
  log(table);
}

/**
 * Writes `results/<name>.json` and `.md` and returns the directory. Quick runs of the separate
 * modes write `<mode>-quick.*` (ignored by git), so they never replace a full run's results.
 */
function writeResults(name: string, json: unknown, markdownText: string): string {
  const dir = `${BENCH_DIR}results`;
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}/${name}.json`, `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(`${dir}/${name}.md`, markdownText);
  return dir;
}

const num = (x: number): string => x.toLocaleString('en-US');

/** `--bigroom`: one channel of 10,000 members over 2 push servers. */
async function bigRoomMain(): Promise<void> {
  const options = { members: quick ? 2000 : 10_000, rate: 10, phaseMs: quick ? 5000 : 20_000, churn: quick ? 200 : 1000 };
  const result = await withSystem(() => startOurs({ env: { MAX_CONNECTIONS_PER_IP: String(options.members + 1000) } }), (s) => bigRoom(s, options, log));
  const lines = [
    `Big room ${new Date().toISOString()}: one channel, ${num(result.members)} members over 2 push servers (joined in ${result.connectSeconds.toFixed(0)} s), ` +
      `${result.rate} msg/s for ${options.phaseMs / 1000} s per phase. Latency is from a message's send to its arrival at the last member.`,
    '',
    '| phase | messages | p50 to the last member | p99 | max | not delivered to every member | presence frames/s to members | presence KB/s | cores: push servers | workers | Redis | member processes |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...result.phases.map((p) => `| ${p.phase} | ${p.messages} | ${p.p50Ms} ms | ${p.p99Ms} ms | ${p.maxMs} ms | ${p.incomplete} | ${num(p.presenceFramesPerSecond)} | ` +
      `${num(p.presenceKBPerSecond)} | ${p.cores['push server'] ?? '–'} | ${p.cores.worker ?? '–'} | ${p.cores.redis ?? '–'} | ${p.cores.members ?? '–'} |`),
  ];
  writeResults(quick ? 'bigroom-quick' : 'bigroom', { date: new Date().toISOString(), machine: machine(), options, result }, `${lines.join('\n')}\n`);
  log('');
  log(lines.join('\n'));
}

async function main(): Promise<void> {
  requireRedisServer();
  if (opts.drain) { await drainMain(); return; }
  if (opts.bigroom) { await bigRoomMain(); return; }
  const started = Date.now();
  const results: ShapeResult[] = [];
  const idle: IdleResult[] = [];
  for (const shape of shapes) {
    const plan = planFor(shape);
    log(`bench (${quick ? 'quick' : 'full'}), ${shape.label}: ${plan.channels} channels × ${plan.members} members, rates ${plan.rates.join(', ')} msg/s, ${plan.repeats} run(s) per rate`);
    const systems: SweepResult[] = [];
    const ours = (env: Record<string, string> = {}, cluster = false) => () => startOurs({ cluster, env: { ...shape.oursEnv, ...opts.oursEnv, ...env } });
    const only = shape.id === 'single' ? ['ours'] : wanted;
    if (only.includes('ours')) systems.push(await benchSystem(ours(), plan, shape));
    if (shape.id !== 'single') {
      if (wanted.includes('ours-4p')) {
        const four = async (): Promise<RunningSystem> => ({ ...(await ours({ QUEUE_PARTITIONS: '4' })()), id: 'ours-4p', label: 'ours, 4 partitions' });
        systems.push(await benchSystem(four, plan, shape));
      }
      if (wanted.includes('ours-auth')) {
        // Every member holds its own HS256 token with a `channels: ["bench-*"]` claim, so each
        // join and each message goes through the channel matcher.
        const authSecret = 'bench-auth-secret-0123456789abcdef';
        const authed = async (): Promise<RunningSystem> => ({ ...(await ours({ AUTH_SECRET: authSecret })()), id: 'ours-auth', label: 'ours, authentication on', authSecret });
        systems.push(await benchSystem(authed, plan, shape));
      }
      if (wanted.includes('baseline')) systems.push(await benchSystem(() => startSocketIo('redis'), plan, shape));
      if (wanted.includes('streams')) systems.push(await benchSystem(() => startSocketIo('streams'), plan, shape));
      if (wanted.includes('ceiling')) systems.push(await benchSystem(() => startCeiling(), plan, shape));
    }
    if (shape.id === 'rooms') {
      if (wanted.includes('cluster')) systems.push(await benchSystem(ours({}, true), plan, shape));
      if (wanted.includes('webhooks')) {
        const receiver = await startReceiver();
        const hooked = async (): Promise<RunningSystem> => ({
          ...(await ours({ WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: 'bench-webhook-secret-0123456789' })()),
          id: 'ours-webhooks', label: 'ours, webhooks on', counters: () => ({ 'webhook events': receiver.events }),
        });
        try { systems.push(await benchSystem(hooked, plan, shape)); } finally { receiver.close(); }
      }
      if (wanted.includes('mixed')) {
        const mixed = async (): Promise<RunningSystem> => ({ ...(await ours()()), id: 'ours-mixed', label: 'ours, mixed load' });
        systems.push(await benchSystem(mixed, { ...plan, mix: { updates: true, typing: true } }, shape));
      }
    }
    results.push({ id: shape.id, label: shape.label, channels: plan.channels, members: plan.members, senders: shape.senders, systems });
  }
  if (opts.idle) {
    const idleSystems: (() => Promise<RunningSystem>)[] = [];
    if (wanted.includes('ours')) idleSystems.push(() => startOurs({ pushServers: 1, workers: 0, env: { MAX_CONNECTIONS_PER_IP: String(IDLE_CONNECTIONS + 1000) } }));
    if (wanted.includes('baseline')) idleSystems.push(() => startSocketIo('redis', 1));
    if (wanted.includes('streams')) idleSystems.push(() => startSocketIo('streams', 1));
    if (wanted.includes('ceiling')) idleSystems.push(() => startCeiling(1));
    for (const start of idleSystems) {
      const r = await withSystem(start, (s) => measureIdle(s, IDLE_CONNECTIONS, 2, IDLE_CHANNELS));
      log(`${r.label}: ${r.connections} idle connections in ${r.channels} channels, ${(r.bytesPerConnection / 1024).toFixed(1)} KB each after ${IDLE_HOLD_MS / 1000} s idle, ` +
        `${((r.bytesPerConnectionConnected ?? 0) / 1024).toFixed(1)} KB just after connecting ` +
        `(RSS ${(r.rssBeforeBytes / 2 ** 20).toFixed(0)} → ${(r.rssAfterBytes / 2 ** 20).toFixed(0)} MB)`);
      idle.push(r);
    }
  }
  const stepMs = planFor(SHAPES[0] as Shape).stepMs;
  const result: BenchResult = {
    date: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
    durationSeconds: (Date.now() - started) / 1000,
    machine: machine(),
    load: { loadgens: 2, rampMs: quick ? 500 : 1000, stepMs, repeats, p99BoundMs: 50, keepUpP50Ms: 50, targetRate: TARGET_RATE },
    shapes: results,
    idle,
    ratios: Object.fromEntries(results.map((shape) => [shape.id, shapeRatios(shape, TARGET_RATE)])),
  };
  // Only a full default run replaces the committed results; other runs keep theirs apart.
  const custom = opts.rates !== undefined || opts.oursEnv !== undefined || opts.only !== undefined || opts.shapes !== undefined || opts.channels !== undefined ||
    opts.members !== undefined || opts.repeats !== undefined || !opts.idle || opts.mixed === true || opts.webhooks === true || opts.cluster === true;
  const name = quick ? 'quick' : custom ? 'custom' : 'latest';
  const table = markdown(result);
  const dir = writeResults(name, result, table);
  for (const shape of results) {
    if (shape.id === 'single') continue;
    writeFileSync(`${dir}/${name}${shape.id === 'rooms' ? '' : `-${shape.id}`}.svg`, chart(result, shape));
  }
  if (name === 'latest') updateReadme(table);
  log('');
  log(table);
  log(`results: bench/results/${name}.json, ${name}.md, ${name}*.svg (${Math.round(result.durationSeconds)} s)`);
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
