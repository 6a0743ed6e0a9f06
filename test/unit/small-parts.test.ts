import { expect } from 'chai';
import { createRequire } from 'node:module';
import { checkInboundJob, dedupKey, frameHead, frameTail, parsePickupNotice, partitionOf, pickupNotice, RedisKeys } from '@chat/shared';
import { RecentEvents, TokenBucket, WireFrame } from '@chat/push-server';

/** ws's own framing (untyped in @types/ws), to check ours against. */
const { Sender } = createRequire(import.meta.url)('ws') as {
  Sender: { frame(data: Buffer, options: { fin: boolean; rsv1: boolean; opcode: number; mask: boolean; readOnly: boolean }): Buffer[] };
};

describe('partitioning, keys and frames', function () {
  it('maps a channel to the same partition every time and spreads channels', function () {
    expect(partitionOf('general', 4)).to.equal(partitionOf('general', 4));
    const used = new Set(Array.from({ length: 200 }, (_, i) => partitionOf(`room-${i}`, 8)));
    expect(used.size).to.equal(8);
    for (const p of used) expect(p).to.be.within(0, 7);
  });

  it('gives every key of a channel the same cluster hash tag', function () {
    const keys = new RedisKeys('chat');
    for (const k of keys.channelKeys('general')) expect(k).to.match(/^chat:ch:\{general\}:/);
  });

  it('routes inbox traffic by classic pub/sub on one Redis and by shard channels in the right slot on a cluster', function () {
    const single = new RedisKeys('chat');
    expect(single.inboxRoute('general')).to.equal('PUBLISH chat:inbox:');
    expect(single.pickupChannel(2, 'push-1')).to.equal('chat:inbox:push-1');
    const sharded = new RedisKeys('chat', true);
    expect(sharded.inboxRoute('general')).to.equal('SPUBLISH chat:ch:{general}:inbox:');
    expect(sharded.channelInbox('general', 'push-1')).to.equal('chat:ch:{general}:inbox:push-1');
    // The pickup channel shares the queue partition's hash tag (its slot).
    expect(sharded.pickupChannel(2, 'push-1').startsWith(sharded.queuePrefix(2))).to.equal(true);
  });

  it('writes and reads pickup notices, and tells them from other inbox payloads', function () {
    expect(parsePickupNotice(pickupNotice(3, 17))).to.deep.equal({ partition: 3, batch: 17 });
    expect(parsePickupNotice('p\ngeneral\n+\nalice')).to.equal(undefined);
    expect(parsePickupNotice('{"type":"message"}')).to.equal(undefined);
  });

  it('frames a fanned-out message exactly as ws would, for every length class', function () {
    for (const length of [0, 1, 125, 126, 65535, 65536, 70000]) {
      const payload = Buffer.alloc(length, 'a');
      const expected = Buffer.concat(Sender.frame(payload, { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: true }));
      expect(WireFrame.text(payload.toString()).bytes.equals(expected), `length ${length}`).to.equal(true);
    }
  });

  it('builds the stored frame tail with JSON escaping and reads the head back', function () {
    const tail = frameTail({ channel: 'g', id: 'i"1', author: 'a\\b', text: '"timestamp":1 <b>', receivedAt: 0 });
    const frame = `{"type":"message","seq":7,"timestamp":123,${tail}`;
    expect(JSON.parse(frame)).to.deep.equal({ type: 'message', seq: 7, timestamp: 123, channel: 'g', id: 'i"1', author: 'a\\b', text: '"timestamp":1 <b>' });
    expect(frameHead(frame)).to.deep.equal({ seq: 7, channel: 'g' });
    expect(frameHead('{"type":"other"}')).to.equal(undefined);
    expect(dedupKey({ author: 'a', id: 'b' })).to.not.equal(dedupKey({ author: 'a\nb', id: '' }));
  });

  it('rejects unusable job data', function () {
    expect(checkInboundJob({ messages: [{ channel: 'g', id: '1', author: 'a', text: 't', receivedAt: 1 }] })).to.equal(undefined);
    expect(checkInboundJob(null)).to.be.a('string');
    expect(checkInboundJob({ messages: [{ channel: 'bad name', id: '1', author: 'a', text: 't' }] })).to.match(/channel/);
    expect(checkInboundJob({ messages: [{ channel: 'g', id: '', author: 'a', text: 't' }] })).to.match(/id/);
    expect(checkInboundJob({ messages: [{ channel: 'g', id: '1', author: '', text: 't' }] })).to.match(/author/);
  });
});

describe('token bucket', function () {
  it('allows a burst, then the refill rate', function () {
    const bucket = new TokenBucket(10, 5, 0);
    for (let i = 0; i < 5; i++) expect(bucket.take(0)).to.equal(true);
    expect(bucket.take(0)).to.equal(false);
    expect(bucket.take(99)).to.equal(false);
    expect(bucket.take(100)).to.equal(true);
    expect(bucket.take(10_000)).to.equal(true);
    for (let i = 0; i < 4; i++) expect(bucket.take(10_000)).to.equal(true);
    expect(bucket.take(10_000)).to.equal(false);
  });
});

describe('recent events (update checks without Redis)', function () {
  const message = (seq: number, author = 'ann', timestamp = 1000): string =>
    JSON.stringify({ type: 'message', seq, timestamp, channel: 'c', id: `m${seq}`, author, text: `t${seq}` });
  const update = (seq: number, target: number, action: string, extra: Record<string, string> = {}, author = 'ben'): string =>
    JSON.stringify({ type: 'update', seq, timestamp: 2000 + seq, channel: 'c', id: `u${seq}`, author, target, action, ...extra });

  it('answers for the unbroken run it kept and leaves the rest to the store', function () {
    const recent = new RecentEvents(3);
    for (let seq = 1; seq <= 5; seq++) recent.add(seq, message(seq));
    expect(recent.target(2, 0), 'evicted').to.equal(undefined);
    expect(recent.target(3, 0)).to.deep.include({ state: 'message' });
    expect(recent.target(6, 0), 'not arrived yet').to.equal(undefined);
    recent.add(4, message(4, 'someone else')); // a repeat changes nothing
    expect((recent.target(4, 0) as { message: { author: string } }).message.author).to.equal('ann');
    recent.add(9, message(9)); // a jump: what came before no longer tells the current state
    expect(recent.target(5, 0)).to.equal(undefined);
    expect(recent.target(9, 0)).to.deep.include({ state: 'message' });
    expect(recent.target(9, 1001), 'older than the cutoff').to.deep.equal({ state: 'missing' });
  });

  it('replays the updates after a message: edits, reactions, unreacts and the tombstone', function () {
    const recent = new RecentEvents();
    recent.add(1, message(1));
    recent.add(2, message(2, 'ben'));
    recent.add(3, update(3, 1, 'react', { emoji: '👍' }));
    recent.add(4, update(4, 1, 'react', { emoji: '👍' }, 'cy'));
    recent.add(5, update(5, 12, 'edit', { text: 'not seq 1' }));
    recent.add(6, update(6, 1, 'unreact', { emoji: '👍' }));
    recent.add(7, update(7, 1, 'edit', { text: 'fixed' }, 'ann'));
    expect(recent.target(1, 0)).to.deep.equal({ state: 'message', message: {
      type: 'message', seq: 1, timestamp: 1000, channel: 'c', id: 'm1', author: 'ann', text: 'fixed', edited: 2007, reactions: { '👍': ['cy'] },
    } });
    expect(recent.target(3, 0), 'an update\'s seq').to.deep.equal({ state: 'missing' });
    recent.add(8, update(8, 1, 'delete', {}, 'ann'));
    expect((recent.target(1, 0) as { message: unknown }).message).to.deep.equal({
      type: 'message', seq: 1, timestamp: 1000, channel: 'c', id: 'm1', author: 'ann', text: '', deleted: true,
    });
    expect((recent.target(2, 0) as { message: { text: string } }).message.text).to.equal('t2');
  });
});
