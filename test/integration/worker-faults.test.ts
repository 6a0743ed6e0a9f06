/**
 * Workers dying mid-job: a job abandoned by a dead worker is re-run first, stored once, and
 * never overtaken by the jobs queued behind it.
 */
import { expect } from 'chai';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { loadConfig, partitionOf, type MessageFrame } from '@chat/shared';
import { startWorker } from '../helpers/programs.js';
import { Stack, collect, waitForCount } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const STALL_ENV = { STALLED_INTERVAL_MS: '1000' };

describe('worker faults', function () {
  let stack: Stack;
  afterEach(async function () {
    await stack?.stop();
  });

  it('re-runs a job abandoned by a dead worker before the jobs queued behind it', async function () {
    stack = await Stack.start({ pushServers: 1, workers: 0, env: STALL_ENV });
    const connection = new Redis(stack.redis.url, { maxRetriesPerRequest: null });
    const partition = partitionOf('stall', loadConfig({ env: stack.env, envFile: false }).queuePartitions);
    const queueName = `inbound-${partition}`;
    const prefix = `{chat:q${partition}}`;
    const queue = new Queue(queueName, { connection, prefix });
    await queue.setGlobalConcurrency(1);
    let taken = 0;
    // A worker that takes the first job and then hangs forever, like a process frozen mid-job.
    const zombie = new Worker(queueName, () => { taken++; return new Promise<void>(() => undefined); }, {
      connection, prefix, concurrency: 1, lockDuration: 1000, stalledInterval: 1000, maxStalledCount: 1000,
    });
    const client = await stack.connect(0, 'patient');
    await client.join('stall');
    const got = collect(client, 'stall');
    await client.send('stall', 'first', 'm1');
    await waitFor(() => taken === 1 || undefined, 'the zombie to take the first job');
    for (let i = 2; i <= 5; i++) await client.send('stall', `msg ${i}`, `m${i}`);
    await zombie.close(true);
    expect(got).to.have.length(0);

    stack.workers.push(await startWorker(stack.env));
    await waitForCount(got, 5, 'all five messages', 20_000);
    expect(got.map((m) => m.id)).to.deep.equal(['m1', 'm2', 'm3', 'm4', 'm5']);
    expect(got.map((m) => m.seq)).to.deep.equal([1, 2, 3, 4, 5]);
    await queue.close();
    connection.disconnect();
  });

  it('loses, duplicates and reorders nothing when a worker is killed -9 during a load', async function () {
    stack = await Stack.start({ pushServers: 2, workers: 2, env: STALL_ENV });
    const senders = await Promise.all(Array.from({ length: 6 }, (_, i) => stack.connect(i % 2, `loader-${i}`)));
    await Promise.all(senders.map((s) => s.join('load')));
    const watcher = await stack.connect(1, 'watcher');
    await watcher.join('load');
    const got = collect(watcher, 'load');
    let acked = 0;
    let killed: Promise<unknown> | undefined;
    const perSender = 100;
    await Promise.all(senders.map(async (s, i) => {
      for (let n = 0; n < perSender; n++) {
        await s.send('load', `${i}:${n}`, `l${i}-${n}`);
        acked++;
        if (acked === 150) killed = stack.workers[0]?.kill('SIGKILL');
      }
    }));
    await killed;
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
    const redis = stack.redis.client();
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
    const owner = await redis.get('{chat:q0}:owner');
    const ownerIndex = ids.findIndex((w) => w.id === owner);
    expect(ownerIndex, `lease holder ${owner} among ${JSON.stringify(ids)}`).to.be.at.least(0);
    // The standby never consumed: it logged no partition, and the owner's lease is its own.
    expect(ids.map((w) => w.consuming.length).sort()).to.deep.equal([0, 1]);

    const client = await stack.connect(0, 'handover');
    await client.join('handover');
    const got = collect(client, 'handover');
    await client.send('handover', 'before', 'h1');
    await waitForCount(got, 1, 'the first message');
    await stack.workers[ownerIndex]?.kill('SIGKILL');
    await client.send('handover', 'after', 'h2');
    await waitForCount(got, 2, 'the message sent after the owner died', 20_000);
    expect(got.map((m) => m.id)).to.deep.equal(['h1', 'h2']);
    const standby = stack.workers[1 - ownerIndex];
    await standby?.waitForLog((l) => l.msg === 'took a partition', 'the standby to take the partition');
    expect(await redis.get('{chat:q0}:owner')).to.equal(ids[1 - ownerIndex]?.id);
  });
});
