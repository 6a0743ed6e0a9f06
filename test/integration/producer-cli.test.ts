/**
 * chat-producer against a running stack: send, history, watch, load with verification, stats,
 * failed jobs, and one-line errors.
 */
import { expect } from 'chai';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { runProducer } from '../helpers/programs.js';
import { Stack, collect, waitForCount } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';
import { ProgramProcess } from '../helpers/programs.js';

describe('producer CLI', function () {
  let stack: Stack;
  let env: Record<string, string>;
  before(async function () {
    stack = await Stack.start({ pushServers: 2, workers: 2 });
    env = { REDIS_URL: stack.redis.url };
  });
  after(async function () {
    await stack?.stop();
  });

  it('send then history shows the message', async function () {
    const sent = await runProducer(['send', '--channel', 'cli', '--text', 'from the cli', '--author', 'ops', '--json'], env);
    expect(sent.code, sent.stderr).to.equal(0);
    const { id } = JSON.parse(sent.stdout) as { id: string };
    const history = await waitFor(async () => {
      const r = await runProducer(['history', '--channel', 'cli', '--json'], env);
      const frame = JSON.parse(r.stdout) as { messages: { id: string; text: string; author: string; seq: number }[] };
      return frame.messages.length === 1 ? frame : undefined;
    }, 'the message in history');
    expect(history.messages[0]).to.include({ id, text: 'from the cli', author: 'ops', seq: 1 });
    const text = await runProducer(['history', '--channel', 'cli'], env);
    expect(text.stdout).to.match(/^#1 \S+ ops: from the cli$/m);
  });

  it('watch prints live messages, through Redis or through a push server', async function () {
    for (const extra of [[], ['--url', stack.push(1).url]]) {
      const watcher = ProgramProcess.spawn('producer', env, ['watch', '--channel', 'watched', '--count', '2', '--history', '0', '--json', ...extra]);
      await waitFor(() => watcher.stderr.some((l) => l.startsWith('watching watched after seq')), 'the watcher to start');
      const c = await stack.connect(0, 'talker');
      await c.join('watched');
      await c.send('watched', 'one');
      await c.send('watched', 'two');
      expect(await watcher.exited).to.equal(0);
      const texts = watcher.logs.map((l) => l.text).filter((t) => t === 'one' || t === 'two');
      expect(texts.slice(-2)).to.deep.equal(['one', 'two']);
      await c.leave('watched');
    }
  });

  it('load --count 2000 --channels 20 --rate 1000 --verify reports 0 lost', async function () {
    const r = await runProducer(['load', '--count', '2000', '--channels', '20', '--rate', '1000', '--channel-prefix', 'verify',
      '--verify', `${stack.push(0).url},${stack.push(1).url}`, '--json'], env);
    expect(r.code, r.stderr).to.equal(0);
    const summary = JSON.parse(r.stdout);
    expect(summary).to.include({ count: 2000, enqueued: 2000, enqueueErrors: 0 });
    expect(summary.verify).to.include({ received: 2000, lost: 0, duplicates: 0, clients: 20 });
    expect(summary.verify.latencyMs.p99).to.be.a('number').and.at.least(summary.verify.latencyMs.p50);
    const redis = stack.redis.client();
    let stored = 0;
    for (let i = 0; i < 20; i++) stored += await redis.zcard(`chat:ch:{verify-${i}}:msgs`);
    expect(stored).to.equal(2000);
  });

  it('stats shows the queue, live push servers with connections, workers and the busiest channels', async function () {
    const a = await stack.connect(0, 'stat-a');
    const b = await stack.connect(1, 'stat-b');
    await a.join('popular');
    await b.join('popular');
    const storedSum = (s: { workers: { stored: number }[] }): number => s.workers.reduce((n, w) => n + w.stored, 0);
    const storedNow = async (): Promise<number> => storedSum(JSON.parse((await runProducer(['stats', '--json', '--interval', '100'], env)).stdout));
    // Workers publish their counts every 500 ms: the count is settled when it holds across a flush.
    let last = -1;
    const storedBefore = await waitFor(async () => {
      const n = await storedNow();
      if (n === last) return n;
      last = n;
      await new Promise((r) => setTimeout(r, 600));
      return undefined;
    }, 'the workers\' stored counts to settle');
    const atB = collect(b, 'popular');
    await a.send('popular', 'hello');
    await waitForCount(atB, 1, 'the message at b');
    await waitFor(async () => {
      const r = await runProducer(['stats', '--json', '--interval', '100'], env);
      const s = JSON.parse(r.stdout);
      return s.pushServers.length === 2 && s.pushServers.every((p: { connections: number }) => p.connections >= 1) &&
        storedSum(s) === storedBefore + 1 ? s : undefined;
    }, 'stats to show both push servers with connections and the stored message');
    const r = await runProducer(['stats', '--json', '--interval', '100'], env);
    const s = JSON.parse(r.stdout);
    expect(s.queue).to.include.keys('waiting', 'active', 'failed', 'completed', 'delayed');
    expect(s.workers).to.have.length(2);
    // One worker consumes the single partition, the other stands by.
    expect(s.workers.map((w: { partitions: number[] }) => w.partitions.length).sort()).to.deep.equal([0, 1]);
    expect(storedSum(s), 'messages stored, as the workers count them').to.equal(storedBefore + 1);
    expect(s.channels[0]).to.deep.equal({ name: 'popular', members: 2, seq: 1 });
    expect(s.rates).to.include.keys('storedPerSec', 'jobsPerSec');
    const text = await runProducer(['stats', '--interval', '100'], env);
    expect(text.stdout).to.match(/^queue +waiting \d+/m).and.match(/^push servers \(2\)$/m).and.match(/^ {2}popular {2}2 members {2}seq 1$/m)
      .and.match(/^ {2}\S+ {2}consumes partition 0 {2}jobs \d+/m).and.match(/^ {2}\S+ {2}stands by {2}jobs \d+/m);
  });

  it('lists failed jobs and retries them', async function () {
    const connection = new Redis(stack.redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue('inbound-0', { connection, prefix: '{chat:q0}' });
    await queue.add('messages', { messages: [{ channel: 'bad channel', id: 'x', author: 'a', text: 't' }] }, { removeOnFail: false });
    const listed = await waitFor(async () => {
      const r = await runProducer(['failed', '--json'], env);
      const body = JSON.parse(r.stdout) as { failed: { failedReason: string; messages: number }[] };
      return body.failed.length === 1 ? body : undefined;
    }, 'the failed job');
    expect(listed.failed[0]?.failedReason).to.match(/invalid job data/);
    const text = await runProducer(['failed'], env);
    expect(text.stdout).to.match(/partition 0 job \S+: 1 message\(s\) in bad channel: invalid job data/);
    const retried = await runProducer(['failed', '--retry', '--json'], env);
    expect(JSON.parse(retried.stdout).retried).to.equal(1);
    await queue.close();
    connection.disconnect();
  });

  it('refuses wrong flags and an unreachable Redis with one line and a non-zero exit', async function () {
    const cases: Array<[string[], RegExp]> = [
      [['load', '--bogus'], /unknown option '--bogus'/],
      [['load', '--count', 'many'], /--count must be a whole number/],
      [['send', '--channel', 'bad name', '--text', 'x'], /--channel "bad name" is not a valid channel name/],
      [['send', '--text', 'x'], /required option '--channel <name>' not specified/],
      [['history', '--channel', 'ok', '--redis', 'nonsense'], /--redis must look like redis:\/\/host:port/],
      [['stats', '--redis', 'redis://127.0.0.1:1'], /cannot reach Redis at redis:\/\/127\.0\.0\.1:1/],
      [['frobnicate'], /unknown command 'frobnicate'/],
    ];
    for (const [args, pattern] of cases) {
      const r = await runProducer(args, env);
      expect(r.code, args.join(' ')).to.not.equal(0);
      const lines = r.stderr.trim().split('\n');
      expect(lines, `${args.join(' ')}: ${r.stderr}`).to.have.length(1);
      expect(lines[0]).to.match(/^chat-producer: /).and.match(pattern);
    }
  });
});
