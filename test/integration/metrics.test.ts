/**
 * Observability: /metrics on push servers and the worker's METRICS_PORT move by the right amounts
 * after traffic and parse as Prometheus text; every metric the Grafana dashboard queries exists;
 * logs are JSON lines with a stable field set.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import type { ChatError } from '@chat/shared';
import { freePort } from '../helpers/ports.js';
import { runProducer } from '../helpers/programs.js';
import { Stack, collect, waitForCount } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

type Samples = Map<string, number>;

/** Parses Prometheus text exposition strictly: every sample line must be well formed and typed. */
function parsePrometheus(text: string): { samples: Samples; types: Map<string, string> } {
  const samples: Samples = new Map();
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) { types.set(type[1] as string, type[2] as string); continue; }
    if (line.startsWith('# HELP ')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|[Nn]a[Nn]|\+Inf|-Inf)( \d+)?$/.exec(line);
    expect(m, `not a Prometheus sample line: ${line}`).to.not.equal(null);
    const name = (m as RegExpExecArray)[1] as string;
    const family = name.replace(/_(bucket|sum|count)$/, '');
    expect(types.has(name) || types.has(family), `sample without # TYPE: ${line}`).to.equal(true);
    samples.set(`${name}${(m as RegExpExecArray)[2] ?? ''}`, Number((m as RegExpExecArray)[3]));
  }
  return { samples, types };
}

async function scrape(url: string): Promise<{ samples: Samples; types: Map<string, string>; text: string }> {
  const res = await fetch(url);
  expect(res.status).to.equal(200);
  expect(res.headers.get('content-type')).to.match(/^text\/plain/);
  const text = await res.text();
  return { ...parsePrometheus(text), text };
}

const value = (s: Samples, key: string): number => s.get(key) ?? 0;

describe('metrics, logs and the dashboard', function () {
  let stack: Stack;
  let workerMetrics: number;
  before(async function () {
    workerMetrics = await freePort();
    stack = await Stack.start({ pushServers: 1, workers: 0 });
    const { startWorker } = await import('../helpers/programs.js');
    stack.workers.push(await startWorker({ ...stack.env, METRICS_PORT: String(workerMetrics), HOST: '127.0.0.1' }));
  });
  after(async function () {
    await stack?.stop();
  });

  it('counts frames, errors, enqueues and deliveries on the push server, and jobs on the worker', async function () {
    const pushUrl = `${stack.push(0).httpUrl}/metrics`;
    const workerUrl = `http://127.0.0.1:${workerMetrics}/metrics`;
    const before = (await scrape(pushUrl)).samples;
    const workerBefore = (await scrape(workerUrl)).samples;

    const a = await stack.connect(0, 'metric-a');
    const b = await stack.connect(0, 'metric-b');
    await a.join('counted');
    await b.join('counted');
    const atB = collect(b, 'counted');
    for (let i = 0; i < 5; i++) await a.send('counted', `m${i}`);
    a.sendRaw('not json');
    a.sendRaw('{"type":"nope"}');
    await a.send('counted', 'x'.repeat(5000)).catch((e: ChatError) => e);
    await a.ping();
    await waitForCount(atB, 5, 'the five messages');

    const after = (await waitFor(async () => {
      const s = await scrape(pushUrl);
      return value(s.samples, 'chat_deliveries_total') - value(before, 'chat_deliveries_total') >= 10 ? s : undefined;
    }, 'deliveries to be counted')).samples;
    const delta = (key: string): number => value(after, key) - value(before, key);
    expect(value(after, 'chat_connections')).to.equal(2);
    expect(delta('chat_joins_total')).to.equal(2);
    expect(delta('chat_frames_in_total{type="join"}')).to.equal(2);
    expect(delta('chat_frames_in_total{type="message"}')).to.equal(5);
    expect(delta('chat_frames_in_total{type="invalid"}')).to.equal(3);
    expect(delta('chat_frames_in_total{type="ping"}')).to.equal(1);
    expect(delta('chat_frames_out_total{type="ack"}')).to.equal(5);
    expect(delta('chat_frames_out_total{type="history"}')).to.equal(2);
    expect(delta('chat_frames_out_total{type="pong"}')).to.equal(1);
    expect(delta('chat_errors_total{code="bad_request"}')).to.equal(2);
    expect(delta('chat_errors_total{code="too_large"}')).to.equal(1);
    expect(delta('chat_enqueue_latency_seconds_count')).to.equal(5);
    expect(delta('chat_deliveries_total')).to.equal(10);
    expect(value(after, 'process_cpu_user_seconds_total')).to.be.greaterThan(0);

    const worker = await waitFor(async () => {
      const s = (await scrape(workerUrl)).samples;
      return value(s, 'chat_messages_stored_total') - value(workerBefore, 'chat_messages_stored_total') >= 5 ? s : undefined;
    }, 'the worker to count the stored messages');
    const jobs = value(worker, 'chat_jobs_processed_total') - value(workerBefore, 'chat_jobs_processed_total');
    expect(value(worker, 'chat_messages_stored_total') - value(workerBefore, 'chat_messages_stored_total')).to.equal(5);
    expect(jobs).to.be.within(1, 5);
    expect(value(worker, 'chat_job_duration_seconds_count') - value(workerBefore, 'chat_job_duration_seconds_count')).to.equal(jobs);
    expect(value(worker, 'chat_enqueue_to_publish_seconds_count') - value(workerBefore, 'chat_enqueue_to_publish_seconds_count')).to.equal(5);
    expect(worker.has('chat_queue_jobs{state="waiting"}')).to.equal(true);
    expect(value(worker, 'chat_queue_jobs{state="failed"}')).to.equal(0);
  });

  it('names only metrics that exist in the Grafana dashboard, which is valid JSON', async function () {
    const dashboard = JSON.parse(readFileSync(fileURLToPath(new URL('../../../ops/grafana-dashboard.json', import.meta.url)), 'utf8')) as
      { panels: { targets: { expr: string }[] }[] };
    const families = new Set<string>();
    for (const url of [`${stack.push(0).httpUrl}/metrics`, `http://127.0.0.1:${workerMetrics}/metrics`]) {
      for (const name of (await scrape(url)).types.keys()) families.add(name);
    }
    const queried = new Set<string>();
    for (const panel of dashboard.panels) {
      for (const t of panel.targets) {
        for (const m of t.expr.matchAll(/\b((?:chat|process|nodejs)_[a-z0-9_]+)\b/g)) queried.add((m[1] as string).replace(/_(bucket|sum|count)$/, ''));
      }
    }
    expect(queried.size).to.be.greaterThan(10);
    for (const name of queried) expect(families.has(name), `${name} is queried by the dashboard but not exported`).to.equal(true);
  });

  it('logs JSON lines with a stable field set and no line per delivered message', async function () {
    const lines = stack.push(0).program.logs;
    const workerLines = stack.workers[0]?.logs ?? [];
    const [linesBefore, workerLinesBefore] = [lines.length, workerLines.length];
    const a = await stack.connect(0, 'logged-a');
    const b = await stack.connect(0, 'logged-b');
    await a.join('logged');
    await b.join('logged');
    const [atA, atB] = [collect(a, 'logged'), collect(b, 'logged')];
    await Promise.all(Array.from({ length: 120 }, (_, i) => a.send('logged', `m${i}`)));
    await waitForCount(atA, 120, 'the 120 messages at a');
    await waitForCount(atB, 120, 'the 120 messages at b');
    // 240 deliveries, 120 acks, 120 stored messages: a handful of lines at most, none per message.
    expect(lines.length - linesBefore, 'push server log lines during 240 deliveries').to.be.below(5);
    expect(workerLines.length - workerLinesBefore, 'worker log lines during 120 stored messages').to.be.below(5);
    const listening = lines.find((l) => l.msg === 'listening');
    expect(listening).to.include({ level: 'info', service: 'push-server', serverId: stack.push(0).serverId });
    expect(listening?.time).to.be.a('string');
    expect(Object.keys(listening ?? {}).slice(0, 4)).to.deep.equal(['time', 'level', 'msg', 'service']);
    const worker = stack.workers[0]?.logs.find((l) => l.msg === 'worker ready');
    expect(worker).to.include({ service: 'worker' });
    expect(worker?.workerId).to.be.a('string');
    for (const l of [...lines, ...workerLines]) expect(l.msg, JSON.stringify(l)).to.be.a('string');
  });

  it('refreshes stats live with --watch', async function () {
    const r = await runProducer(['stats', '--watch', '--times', '2', '--interval', '200', '--json'], { REDIS_URL: stack.redis.url });
    expect(r.code, r.stderr).to.equal(0);
    const snapshots = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(snapshots).to.have.length(2);
    expect(snapshots[1].pushServers).to.have.length(1);
  });
});
