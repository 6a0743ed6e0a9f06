/**
 * The in-stream gap fill (ChannelHub `offer` and `fill`), apart from the heartbeat gap check: a
 * message stored but never published to this push server is noticed as soon as the next one
 * arrives, read from the store and delivered first, in order, to every local member. The
 * heartbeat is set far beyond the test, so only the stream can have done it.
 */
import { expect } from 'chai';
import { callScript, dedupKey, frameTail, RedisKeys, type InboundMessage } from '@chat/shared';
import { scrapeCounter } from '../helpers/metrics.js';
import { Stack, collect, waitForCount } from '../helpers/stack.js';

describe('gap fill in the live stream', function () {
  let stack: Stack;
  before(async function () {
    stack = await Stack.start({ pushServers: 1, workers: 1, env: { HEARTBEAT_MS: '60000' } });
  });
  after(async function () {
    await stack?.stop();
  });

  it('delivers a message that pub/sub never brought as soon as the next one shows the jump', async function () {
    const metrics = `${stack.push(0).httpUrl}/metrics`;
    const fills = async (via: string): Promise<number> => {
      const text = await (await fetch(metrics)).text();
      const m = new RegExp(`^chat_gap_fill_deliveries_total\\{via="${via}"\\} (\\d+)`, 'm').exec(text);
      return Number(m?.[1] ?? 0);
    };
    const a = await stack.connect(0, 'gap-a');
    const b = await stack.connect(0, 'gap-b');
    await a.join('gappy');
    await b.join('gappy');
    const [atA, atB] = [collect(a, 'gappy'), collect(b, 'gappy')];
    await a.send('gappy', 'one', 'g1');
    await waitForCount(atB, 1, 'the first message');

    // Store seq 2 the way a worker does, but with no route: nobody is told about it.
    const keys = new RedisKeys('chat');
    const [msgs, seq, ids, , events, hooks] = keys.channelKeys('gappy');
    const lost: InboundMessage = { channel: 'gappy', id: 'g2', author: 'gap-a', text: 'two (never published)', receivedAt: Date.now() };
    const redis = stack.redis.client();
    const stored = await callScript<number[]>(redis, 'chatPersistMessages', [msgs, seq, ids, 'chat:ch:{gappy}:no-routes', events, hooks],
      [86_400_000, keys.inboxRoute('gappy'), '', dedupKey(lost), frameTail(lost), '']);
    expect(stored).to.deep.equal([2]);
    await a.ping();
    expect(atB, 'seq 2 was not published').to.have.length(1);
    const before = { stream: await fills('stream'), check: await fills('check') };

    await a.send('gappy', 'three', 'g3');
    await waitForCount(atA, 3, 'the filled message and the next one at a');
    await waitForCount(atB, 3, 'the filled message and the next one at b');
    for (const list of [atA, atB]) {
      expect(list.map((m) => m.seq)).to.deep.equal([1, 2, 3]);
      expect(list.map((m) => m.text)).to.deep.equal(['one', 'two (never published)', 'three']);
    }
    expect(await fills('stream') - before.stream, 'deliveries filled from the stream (seq 2 to two members)').to.equal(2);
    expect(await fills('check') - before.check, 'deliveries filled by the heartbeat check').to.equal(0);
    expect(await scrapeCounter(metrics, 'chat_gap_fill_deliveries_total')).to.equal(2);
  });
});
