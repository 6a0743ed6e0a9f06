/**
 * Workers dying or freezing mid-job. Only the lease owner of a partition consumes it, so every
 * fault here is done to the owner (named in `{chat:q0}:owner`), never to an idle standby, and
 * while the owner has a job active. A job abandoned by the owner is re-run first by the
 * standby, stores nothing twice, and is never overtaken by the jobs queued behind it.
 */
import { expect } from 'chai';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { INBOUND_JOB_NAME, INBOUND_JOB_OPTIONS, type ChatClient, type InboundMessage, type MessageFrame } from '@chat/shared';
import type { ProgramProcess } from '../helpers/programs.js';
import { Stack, collect, waitForCount } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const STALL_ENV = { STALLED_INTERVAL_MS: '1000' };
const ACTIVE = '{chat:q0}:inbound-0:active';

/**
 * Freezes `worker` (SIGSTOP) while partition 0 has a job active, and returns that job's id. A job
 * seen active can finish before the signal lands, so the worker is thawed and the wait begins
 * again until it is stopped (state T) with the job still active, checked twice in a row.
 */
async function freezeWhenActive(redis: Redis, worker: ProgramProcess, what: string): Promise<string> {
  return waitFor(async () => {
    const seen = (await redis.lrange(ACTIVE, 0, -1))[0];
    if (seen === undefined) return undefined;
    worker.signal('SIGSTOP');
    await waitFor(() => worker.frozen, 'the worker to stop', 5_000, 1);
    // A command the worker wrote just before it stopped may still reach Redis: look twice.
    const [first, second] = [await redis.lrange(ACTIVE, 0, 0), await redis.lrange(ACTIVE, 0, 0)];
    if (first[0] === seen && second[0] === seen) return seen;
    worker.signal('SIGCONT');
    return undefined;
  }, `a job to be active with its worker stopped (${what})`, 15_000, 1);
}

/** Which of the workers' info hashes counts how many duplicates (summed over live workers). */
async function duplicatesCounted(redis: Redis, workerIds: string[]): Promise<number> {
  const counts = await Promise.all(workerIds.map((id) => redis.hget(`chat:worker:${id}:info`, 'duplicates')));
  return counts.reduce((n, c) => n + Number(c ?? 0), 0);
}

describe('worker faults', function () {
  let stack: Stack;
  afterEach(async function () {
    for (const w of stack?.workers ?? []) w.signal('SIGCONT');
    await stack?.stop();
  });

  it('re-runs a job whose owner was killed -9 half-way through it, storing nothing twice', async function () {
    this.timeout(90_000);
    // One channel at a time inside a job, so a job of 100 channels is half-done for a while.
    stack = await Stack.start({ pushServers: 1, workers: 2, env: { ...STALL_ENV, WORKER_CONCURRENCY: '1' } });
    const redis = stack.redis.client();
    const connection = new Redis(stack.redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue('inbound-0', { connection, prefix: '{chat:q0}' });
    const member = await stack.connect(0, 'member');
    const { owner, others } = await stack.partitionOwner(0);
    const standbyId = String(others[0]?.logs.find((l) => l.msg === 'worker ready')?.workerId);

    // A job of 100 channels × 2 messages; freeze the owner while it is active until one is caught
    // half-way (some channels stored, some not), then kill it.
    let channels: string[] = [];
    let got: MessageFrame[][] = [];
    let jobId = '';
    let storedAtKill = 0;
    for (let attempt = 0; attempt < 20 && storedAtKill === 0; attempt++) {
      channels = Array.from({ length: 100 }, (_, i) => `mj${attempt}-${i}`);
      for (const c of channels) await member.join(c);
      got = channels.map((c) => collect(member, c));
      const messages: InboundMessage[] = channels.flatMap((c) => [1, 2].map((n) => ({ channel: c, id: `${c}-${n}`, author: 'bot', text: `${n}`, receivedAt: Date.now() })));
      const added = await queue.add(INBOUND_JOB_NAME, { messages }, INBOUND_JOB_OPTIONS);
      jobId = await freezeWhenActive(redis, owner, `attempt ${attempt}`);
      expect(jobId).to.equal(added.id);
      const stored = await Promise.all(channels.map((c) => redis.get(`chat:ch:{${c}}:seq`)));
      const done = stored.filter((s) => s === '2').length;
      if (done > 0 && done < channels.length) { storedAtKill = done; break; }
      owner.signal('SIGCONT');
      await waitFor(async () => (await redis.llen(ACTIVE)) === 0 || undefined, 'the job to finish');
      for (const c of channels) await member.leave(c);
    }
    expect(storedAtKill, 'channels stored when the owner died').to.be.within(1, 99);
    await owner.kill('SIGKILL');

    // The standby takes the partition and re-runs the same job: every message stored once,
    // the channels the dead owner had done counted as duplicates, not stored again.
    await waitFor(async () => (await redis.get('{chat:q0}:owner')) === standbyId || undefined, 'the standby to take the lease', 10_000);
    const seqs = await waitFor(async () => {
      const now = await Promise.all(channels.map((c) => redis.get(`chat:ch:{${c}}:seq`)));
      return now.every((s) => Number(s) >= 2) ? now : undefined;
    }, 'every channel of the job stored', 20_000);
    expect(seqs.filter((s) => s !== '2'), 'channels whose seq is not 2 (a message stored twice)').to.deep.equal([]);
    await waitFor(async () => (await duplicatesCounted(redis, [standbyId])) === 2 * storedAtKill || undefined,
      `the standby to count ${2 * storedAtKill} duplicates`, 10_000);
    expect(await redis.llen(ACTIVE)).to.equal(0);
    expect(await queue.getJob(jobId), 'the re-run job is complete (removed)').to.equal(undefined);
    for (const c of channels) {
      expect(await redis.zcard(`chat:ch:{${c}}:msgs`), `messages stored in ${c}`).to.equal(2);
      expect(await redis.zcard(`chat:ch:{${c}}:ids`), `ids stored in ${c}`).to.equal(2);
    }
    // Delivered live exactly once each: the dead owner's channels before it died, the rest by
    // the re-run, which published only what it stored.
    for (const [i, list] of got.entries()) await waitForCount(list, 2, `both messages of ${channels[i]}`);
    await member.ping();
    expect(got.map((list) => list.map((m) => m.seq).join(',')).filter((d) => d !== '1,2'), 'deliveries other than seq 1,2').to.deep.equal([]);
    await queue.close();
    connection.disconnect();
  });

  it('keeps order and stores once when the owner is frozen (SIGSTOP) mid-job and thawed after the standby took over', async function () {
    this.timeout(90_000);
    stack = await Stack.start({ pushServers: 1, workers: 2, env: STALL_ENV });
    const redis = stack.redis.client();
    const { owner, others } = await stack.partitionOwner(0);
    const standbyId = String(others[0]?.logs.find((l) => l.msg === 'worker ready')?.workerId);
    const client = await stack.connect(0, 'patient');
    await client.join('stall');
    const got = collect(client, 'stall');
    const sends: Promise<unknown>[] = [];
    for (let i = 1; i <= 100; i++) sends.push(client.send('stall', `${i}`, `m${i}`));
    await freezeWhenActive(redis, owner, 'the first messages');
    await Promise.all(sends);
    // Queued behind the frozen job: these must not overtake it.
    for (let i = 101; i <= 150; i++) await client.send('stall', `${i}`, `m${i}`);

    await waitFor(async () => (await redis.get('{chat:q0}:owner')) === standbyId || undefined, 'the standby to take the lease', 10_000);
    await waitForCount(got, 150, 'every message, through the standby', 20_000);
    owner.signal('SIGCONT');
    await owner.waitForLog((l) => l.msg === 'lost the lease of a partition', 'the thawed owner to notice it lost its lease');
    for (let i = 151; i <= 160; i++) await client.send('stall', `${i}`, `m${i}`);
    await waitForCount(got, 160, 'the messages after the thaw');
    await client.ping();
    expect(got.map((m) => m.id)).to.deep.equal(Array.from({ length: 160 }, (_, k) => `m${k + 1}`));
    expect(got.map((m) => m.seq)).to.deep.equal(Array.from({ length: 160 }, (_, k) => k + 1));
    expect(await redis.zcard('chat:ch:{stall}:msgs')).to.equal(160);
    expect(await redis.get('{chat:q0}:owner'), 'the standby keeps the partition').to.equal(standbyId);
    expect(owner.running, 'the thawed worker lives on as a standby').to.equal(true);
  });

  it('loses, duplicates and reorders nothing when the owner is killed -9 during a load', async function () {
    stack = await Stack.start({ pushServers: 2, workers: 2, env: STALL_ENV });
    const redis = stack.redis.client();
    const { owner } = await stack.partitionOwner(0);
    const senders = await Promise.all(Array.from({ length: 6 }, (_, i) => stack.connect(i % 2, `loader-${i}`)));
    await Promise.all(senders.map((s) => s.join('load')));
    const watcher = await stack.connect(1, 'watcher');
    await watcher.join('load');
    const got = collect(watcher, 'load');
    let acked = 0;
    let killed: Promise<unknown> | undefined;
    let activeAtKill = -1;
    const perSender = 100;
    await Promise.all(senders.map(async (s: ChatClient, i) => {
      for (let n = 0; n < perSender; n++) {
        await s.send('load', `${i}:${n}`, `l${i}-${n}`);
        acked++;
        if (acked === 150) {
          killed = (async () => {
            await freezeWhenActive(redis, owner, 'during the load');
            activeAtKill = await redis.llen(ACTIVE);
            await owner.kill('SIGKILL');
          })();
        }
      }
    }));
    await killed;
    expect(activeAtKill, 'jobs active when the owner died').to.equal(1);
    const total = senders.length * perSender;
    await waitForCount(got, total, 'every acked message', 30_000);
    await watcher.ping();
    expect(got).to.have.length(total);
    expect(got.map((m) => m.seq)).to.deep.equal(Array.from({ length: total }, (_, k) => k + 1));
    expect(new Set(got.map((m) => m.id)).size).to.equal(total);
    for (let i = 0; i < senders.length; i++) {
      const order = got.filter((m: MessageFrame) => m.author === `loader-${i}`).map((m) => Number(m.text.split(':')[1]));
      expect(order, `order of loader-${i}`).to.deep.equal(Array.from({ length: perSender }, (_, n) => n));
    }
    expect(await redis.zcard('chat:ch:{load}:msgs')).to.equal(total);
    expect(await redis.get('chat:ch:{load}:seq')).to.equal(String(total));
  });

  it('lets one worker consume a partition while the other stands by, and hands it over when the owner dies', async function () {
    stack = await Stack.start({ pushServers: 1, workers: 2, env: STALL_ENV });
    const ids = await Promise.all(stack.workers.map(async (w) => {
      const ready = await w.waitForLog((l) => l.msg === 'worker ready', 'worker ready');
      return { id: String(ready.workerId), consuming: ready.consuming as number[] };
    }));
    const redis = stack.redis.client();
    const { owner, others, id } = await stack.partitionOwner(0);
    // The standby never consumed: it logged no partition, and the owner's lease is its own.
    expect(ids.map((w) => w.consuming.length).sort()).to.deep.equal([0, 1]);
    expect(ids.find((w) => w.id === id)?.consuming).to.deep.equal([0]);

    const client = await stack.connect(0, 'handover');
    await client.join('handover');
    const got = collect(client, 'handover');
    await client.send('handover', 'before', 'h1');
    await waitForCount(got, 1, 'the first message');
    await owner.kill('SIGKILL');
    await client.send('handover', 'after', 'h2');
    await waitForCount(got, 2, 'the message sent after the owner died', 20_000);
    expect(got.map((m) => m.id)).to.deep.equal(['h1', 'h2']);
    const standby = others[0] as ProgramProcess;
    await standby.waitForLog((l) => l.msg === 'took a partition', 'the standby to take the partition');
    expect(await redis.get('{chat:q0}:owner')).to.equal(ids.find((w) => w.id !== id)?.id);
  });
});
