/**
 * How push servers batch messages into jobs, against a real Redis: at most one job of theirs
 * waits in a partition until a worker announces its pickup, a missing notice holds a batch only
 * briefly, draining sends everything at once, and the linger joins messages that arrive soon
 * after an add. Order and acks are kept throughout.
 */
import { expect } from 'chai';
import type { Redis } from 'ioredis';
import { InboundQueues, RedisKeys, type InboundJobData, type InboundMessage } from '@chat/shared';
import { RedisServer } from '../helpers/redis-server.js';

const msg = (id: string): InboundMessage => ({ channel: 'batching', id, author: 'alice', text: id, receivedAt: Date.now() });

describe('inbound queues: batching at the push server', function () {
  let server: RedisServer;
  let redis: Redis;
  let queues: InboundQueues | undefined;

  before(async function () {
    server = await RedisServer.start();
    redis = server.client();
  });
  afterEach(async function () {
    await queues?.close();
    queues = undefined;
    await redis.flushall();
  });
  after(async function () {
    await server?.stop();
  });

  /** The waiting jobs' batches, oldest first. */
  async function batches(q: InboundQueues): Promise<InboundJobData[]> {
    const jobs = await (q.queues[0] as NonNullable<InboundQueues['queues'][0]>).getJobs(['waiting'], 0, -1, true);
    return jobs.map((j) => j.data as InboundJobData);
  }

  it('keeps one job waiting per partition; the rest gathers into the next job once a worker picks it up', async function () {
    queues = new InboundQueues(redis, new RedisKeys('b1'), 1, { origin: 'push-a', lingerMs: 0 });
    await queues.enqueue(msg('m1'));
    const held = [queues.enqueue(msg('m2')), queues.enqueue(msg('m3'))];
    expect(queues.backlog).to.equal(2);
    expect((await batches(queues)).map((b) => b.messages.map((m) => m.id))).to.deep.equal([['m1']]);

    queues.pickedUp(0, 1);
    await Promise.all(held);
    const all = await batches(queues);
    expect(all.map((b) => b.messages.map((m) => m.id))).to.deep.equal([['m1'], ['m2', 'm3']]);
    expect(all.map((b) => b.origin)).to.deep.equal([{ server: 'push-a', batch: 1 }, { server: 'push-a', batch: 2 }]);
  });

  it('sends a held batch anyway when no pickup notice comes, and at once when draining', async function () {
    queues = new InboundQueues(redis, new RedisKeys('b2'), 1, { origin: 'push-a', lingerMs: 0 });
    await queues.enqueue(msg('m1'));
    const late = queues.enqueue(msg('m2'));
    expect(queues.backlog).to.equal(1);
    await late; // no notice: held at most MAX_PICKUP_WAIT_MS, then added
    expect((await batches(queues)).map((b) => b.messages.map((m) => m.id))).to.deep.equal([['m1'], ['m2']]);

    const drained = queues.enqueue(msg('m3'));
    expect(queues.backlog).to.equal(1);
    await queues.drain();
    await drained;
    expect((await batches(queues)).length).to.equal(3);
  });

  it('joins messages that arrive within the linger after an add into one job', async function () {
    queues = new InboundQueues(redis, new RedisKeys('b3'), 1, { lingerMs: 200 });
    await queues.enqueue(msg('m1'));
    await Promise.all([queues.enqueue(msg('m2')), queues.enqueue(msg('m3')), queues.enqueue(msg('m4'))]);
    expect((await batches(queues)).map((b) => b.messages.map((m) => m.id))).to.deep.equal([['m1'], ['m2', 'm3', 'm4']]);
  });

  it('without an inbox or linger (the producer CLI) adds as soon as the previous add is done', async function () {
    queues = new InboundQueues(redis, new RedisKeys('b4'), 1);
    for (const id of ['m1', 'm2', 'm3']) await queues.enqueue(msg(id));
    expect((await batches(queues)).map((b) => b.messages.map((m) => m.id))).to.deep.equal([['m1'], ['m2'], ['m3']]);
    expect((await batches(queues)).every((b) => b.origin === undefined)).to.equal(true);
  });
});
