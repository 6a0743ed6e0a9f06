/**
 * Chat events through real processes (two push servers, two workers, four partitions): edits,
 * deletes and reactions are stored updates in the channel's one seq order and every read shows
 * messages in their current state; typing is forwarded and stored nowhere; read markers are
 * shared by a user's tabs and receipts are coalesced; pages go back through everything retained.
 */
import { expect } from 'chai';
import WebSocket from 'ws';
import {
  ChatClient, ChatError, mintToken, type ChannelEvent, type MessageFrame, type ReceiptsFrame, type SocketLike,
  type TypingNoticeFrame, type UpdateFrame,
} from '@chat/shared';
import { RECENT_EVENTS } from '@chat/push-server';
import { PushServerProcess } from '../helpers/programs.js';
import { Stack } from '../helpers/stack.js';
import { scrapeCounter } from '../helpers/metrics.js';
import { waitFor } from '../helpers/wait.js';

const SECRET = 'chat-events-test-secret-0123456789abcdef';
const API_KEY = 'chat-events-test-server-api-key-0123';

/** Everything a client received in a channel's stream (messages and updates), in arrival order. */
function stream(client: ChatClient, channel: string): ChannelEvent[] {
  const got: ChannelEvent[] = [];
  client.on('message', (m) => { if (m.channel === channel) got.push(m); });
  client.on('update', (u) => { if (u.channel === channel) got.push(u); });
  return got;
}

function frames<T>(client: ChatClient, type: 'typing' | 'receipts', channel: string): T[] {
  const got: T[] = [];
  client.on(type, (f) => { if (f.channel === channel) got.push(f as T); });
  return got;
}

describe('chat events: edits, deletes, reactions, typing, read markers, pages', function () {
  let stack: Stack;
  const clients: ChatClient[] = [];
  const connect = async (server: number, user: string, channels?: string[]): Promise<ChatClient> => {
    const token = await mintToken(user, SECRET, 3600, channels ? { channels } : {});
    const c = await ChatClient.connect(stack.push(server).url, { token, socket: (u) => new WebSocket(u) as unknown as SocketLike });
    clients.push(c);
    return c;
  };
  const http = async (path: string): Promise<Record<string, unknown>> => {
    const res = await fetch(`${stack.push(1).httpUrl}${path}`, { headers: { authorization: `Bearer ${API_KEY}` } });
    expect(res.status, `GET ${path}`).to.equal(200);
    return (await res.json()) as Record<string, unknown>;
  };
  const refusal = (p: Promise<unknown>): Promise<ChatError> => p.then(() => { throw new Error('expected a refusal'); }, (err: ChatError) => err);

  before(async function () {
    stack = await Stack.start({ pushServers: 2, workers: 2, env: { AUTH_SECRET: SECRET, SERVER_API_KEY: API_KEY, QUEUE_PARTITIONS: '4' } });
  });
  after(async function () {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await stack?.stop();
  });

  it('stores edit, delete, react and unreact as updates with consecutive seqs, and every read shows the current state', async function () {
    const alice = await connect(0, 'alice');
    const bob = await connect(1, 'bob');
    await alice.join('ev');
    await bob.join('ev');
    const atAlice = stream(alice, 'ev');
    const atBob = stream(bob, 'ev');
    await alice.send('ev', 'helo', 'm1');
    await bob.send('ev', 'second', 'm2');
    await waitFor(() => atBob.length >= 2 || undefined, 'both messages at bob');
    const [m1, m2] = atBob as MessageFrame[];
    expect([m1?.seq, m2?.seq]).to.deep.equal([1, 2]);

    await alice.edit('ev', 1, 'hello', 'e1');
    await bob.react('ev', 1, '👍', 'r1');
    await alice.react('ev', 1, '👍', 'r2');
    await alice.react('ev', 1, '🎉', 'r3');
    await bob.unreact('ev', 1, '👍', 'u1');
    await bob.delete('ev', 2, 'd1');
    await waitFor(() => atAlice.length >= 8 && atBob.length >= 8 || undefined, 'the six updates at both members');
    await alice.ping();
    await bob.ping();
    for (const got of [atAlice, atBob]) {
      expect(got.map((e) => e.seq), 'one gap-free seq order').to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8]);
      const updates = got.slice(2) as UpdateFrame[];
      expect(updates.map((u) => [u.type, u.action, u.author, u.target, u.text ?? u.emoji ?? null, u.id])).to.deep.equal([
        ['update', 'edit', 'alice', 1, 'hello', 'e1'],
        ['update', 'react', 'bob', 1, '👍', 'r1'],
        ['update', 'react', 'alice', 1, '👍', 'r2'],
        ['update', 'react', 'alice', 1, '🎉', 'r3'],
        ['update', 'unreact', 'bob', 1, '👍', 'u1'],
        ['update', 'delete', 'bob', 2, null, 'd1'],
      ]);
      for (const u of updates) expect(u.timestamp).to.be.a('number');
    }

    // The current state, everywhere: history, since, page and HTTP.
    const current = (list: ChannelEvent[]): Array<Record<string, unknown>> => list.filter((e) => e.type === 'message')
      .map((m) => { const { timestamp, edited, ...rest } = m as MessageFrame; void timestamp; return { ...rest, edited: typeof edited }; });
    const expected = [
      { type: 'message', channel: 'ev', id: 'm1', author: 'alice', text: 'hello', seq: 1, edited: 'number', reactions: { '🎉': ['alice'], '👍': ['alice'] } },
      { type: 'message', channel: 'ev', id: 'm2', author: 'bob', text: '', seq: 2, deleted: true, edited: 'undefined' },
    ];
    const carol = await connect(0, 'carol');
    const history = await carol.join('ev');
    expect(history.seq).to.equal(8);
    expect(current(history.messages)).to.deep.equal(expected);
    const since = await carol.join('ev', 0);
    expect(since.messages.map((e) => e.seq), 'since lists messages and updates in seq order').to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(current(since.messages)).to.deep.equal(expected);
    expect(since.complete).to.equal(true);
    const page = await carol.page('ev');
    expect(current(page.messages)).to.deep.equal(expected);
    expect(page.more).to.equal(false);
    const viaHttp = await http('/channels/ev/messages');
    expect(current(viaHttp.messages as ChannelEvent[])).to.deep.equal(expected);
    const pageHttp = await http('/channels/ev/messages?before=3&limit=1');
    expect((pageHttp.messages as MessageFrame[]).map((m) => m.seq)).to.deep.equal([2]);
    expect(pageHttp.more).to.equal(true);
    const sinceHttp = await http('/channels/ev/messages?since=2');
    expect((sinceHttp.messages as ChannelEvent[]).map((e) => `${e.type}:${e.seq}`)).to.deep.equal(
      ['update:3', 'update:4', 'update:5', 'update:6', 'update:7', 'update:8']);
  });

  it('refuses what the rules forbid before the ack, and stores a retried update once', async function () {
    const alice = await connect(0, 'alice');
    const bob = await connect(1, 'bob');
    await alice.join('rules');
    await bob.join('rules');
    const atBob = stream(bob, 'rules');
    await alice.send('rules', 'mine', 'a1');
    await waitFor(() => atBob.length >= 1 || undefined, 'the message');

    expect((await refusal(bob.edit('rules', 1, 'not yours'))).code, 'editing another\'s message').to.equal('forbidden');
    expect((await refusal(bob.delete('rules', 1))).code, 'deleting another\'s message').to.equal('forbidden');
    expect((await refusal(bob.react('rules', 1, 'x'.repeat(33)))).code, 'an emoji past 32 bytes').to.equal('bad_request');
    // At most 20 different reactions on one message.
    const many = await connect(0, 'many', undefined);
    await many.join('rules');
    for (let i = 0; i < 20; i++) await many.react('rules', 1, `e${i}`, `cap-${i}`);
    await waitFor(() => atBob.length >= 21 || undefined, 'twenty reactions');
    const capped = await refusal(many.react('rules', 1, 'e20'));
    expect([capped.code, capped.message]).to.deep.equal(['bad_request', 'message 1 already has 20 different reactions: react with one of them']);
    for (let i = 0; i < 20; i++) await many.unreact('rules', 1, `e${i}`, `uncap-${i}`);
    await waitFor(() => atBob.length >= 41 || undefined, 'the twenty unreacts');
    // A retried edit (same author and id): acknowledged twice, stored once.
    await alice.edit('rules', 1, 'edited', 'same-id');
    await alice.edit('rules', 1, 'edited', 'same-id');
    await waitFor(() => atBob.length >= 42 || undefined, 'the edit');
    expect((await refusal(alice.edit('rules', 2, 'an update is no message'))).code, 'editing an update').to.equal('not_found');
    // A react already there: acknowledged, not stored.
    await bob.react('rules', 1, '👍', 'x1');
    await bob.react('rules', 1, '👍', 'x2');
    await alice.delete('rules', 1, 'del');
    await waitFor(() => atBob.length >= 44 || undefined, 'the react and the delete');
    expect((await refusal(alice.edit('rules', 1, 'after the delete'))).code, 'editing a deleted message').to.equal('not_found');
    expect((await refusal(bob.react('rules', 1, '🎉'))).code, 'reacting to a deleted message').to.equal('not_found');
    // A target past the latest seq may still be in the queue: acknowledged, and dropped by the
    // worker when it turns out to be no message.
    await alice.react('rules', 99_999, '🎉', 'future');
    await waitFor(async () => (await stack.redis.client().zscore('chat:ch:{rules}:ids', 'alice\nfuture')) !== null || undefined, 'the dropped react to be processed');
    await bob.ping();
    const kinds = atBob.map((e) => (e.type === 'update' ? e.action : 'message'));
    expect(atBob.map((e) => e.seq)).to.deep.equal(Array.from({ length: 44 }, (_, i) => i + 1));
    expect(kinds).to.deep.equal(['message', ...Array(20).fill('react'), ...Array(20).fill('unreact'), 'edit', 'react', 'delete']);
  }).timeout(30_000);

  it('checks an update of a message older than the events a push server keeps against the store, with the same answers', async function () {
    const alice = await connect(0, 'alice');
    const bob = await connect(1, 'bob');
    await alice.join('old');
    await bob.join('old');
    const atBob = stream(bob, 'old');
    const sent = RECENT_EVENTS + 6;
    for (let i = 1; i <= sent; i++) await alice.send('old', `m${i}`, `old-${i}`);
    await waitFor(() => atBob.length >= sent || undefined, `${sent} messages`);
    const checks = async (): Promise<{ here: number; store: number }> => {
      const count = async (answered: string): Promise<number> => {
        let n = 0;
        for (const i of [0, 1]) n += await scrapeCounter(`${stack.push(i).httpUrl}/metrics`, 'chat_update_checks_total', { authorization: `Bearer ${API_KEY}` }, `answered="${answered}"`);
        return n;
      };
      return { here: await count('here'), store: await count('store') };
    };
    const before = await checks();
    // Seq 1 is no longer among the events either push server keeps: the checks read the store.
    expect((await refusal(bob.edit('old', 1, 'not yours'))).code, 'editing another\'s message').to.equal('forbidden');
    await bob.react('old', 1, '👍', 'old-r');
    await alice.delete('old', 1, 'old-d');
    await waitFor(() => atBob.length >= sent + 2 || undefined, 'the react and the delete');
    expect(atBob.slice(sent).map((e) => (e.type === 'update' ? `${e.action}:${e.target}` : e.type))).to.deep.equal(['react:1', 'delete:1']);
    expect((await refusal(alice.edit('old', 1, 'after the delete'))).code, 'editing a deleted message').to.equal('not_found');
    expect((await refusal(bob.react('old', 1, '🎉'))).code, 'reacting to a deleted message').to.equal('not_found');
    // The same checks on a recent message, answered from the events kept here.
    expect((await refusal(bob.delete('old', sent, 'x'))).code, 'deleting another\'s recent message').to.equal('forbidden');
    await alice.delete('old', sent, 'old-d2');
    await waitFor(() => atBob.length >= sent + 3 || undefined, 'the second delete');
    expect((await refusal(bob.react('old', sent, '🎉'))).code, 'reacting to a deleted recent message').to.equal('not_found');
    // Five checks of seq 1 read the store, the three of the recent message did not.
    const after = await checks();
    expect({ here: after.here - before.here, store: after.store - before.store }).to.deep.equal({ here: 3, store: 5 });
  }).timeout(30_000);

  it('applies an edit sent right behind its message after it, with the partitions spread over parallel workers', async function () {
    const writer = await connect(0, 'writer');
    const reader = await connect(1, 'reader');
    const channels = Array.from({ length: 24 }, (_, i) => `quick-${i}`);
    for (const c of channels) { await writer.join(c); await reader.join(c); }
    const streams = channels.map((c) => stream(reader, c));
    // No wait for the message's ack or delivery: the edit names seq 1, not stored yet.
    const sends = channels.flatMap((c) => [writer.send(c, 'first draft', `${c}-m`), writer.edit(c, 1, 'final', `${c}-e`)]);
    await Promise.all(sends);
    for (const [i, c] of channels.entries()) {
      await waitFor(() => (streams[i] as ChannelEvent[]).length >= 2 || undefined, `the message and its edit in ${c}`);
    }
    for (const got of streams) expect(got.map((e) => (e.type === 'update' ? `${e.seq}:${e.action}:${e.target}` : `${e.seq}:message`))).to.deep.equal(['1:message', '2:edit:1']);
    const stored = await Promise.all(channels.map(async (c) => (await reader.page(c)).messages[0]?.text));
    expect(stored).to.deep.equal(channels.map(() => 'final'));
    // Both workers took part (each holds two of the four partitions).
    const jobs = async (): Promise<number[]> => Promise.all(stack.workers.map(async (w) => {
      const id = String(w.logs.find((l) => l.msg === 'worker ready')?.workerId);
      return Number((await stack.redis.client().hget(`chat:worker:${id}:info`, 'jobs')) ?? 0);
    }));
    let last: number[] = [];
    await waitFor(async () => { last = await jobs(); return last.every((n) => n > 0) || undefined; },
      () => `both workers to have run jobs (${last.join(', ')})`);
  });

  it('forwards typing to the other members on both push servers, once per 2 s, storing nothing and taking no seq', async function () {
    const typist = await connect(0, 'typist');
    const near = await connect(0, 'near');
    const far = await connect(1, 'far');
    for (const c of [typist, near, far]) await c.join('typing');
    await typist.send('typing', 'hi', 't1');
    const atFar = stream(far, 'typing');
    await waitFor(() => atFar.length >= 1 || undefined, 'the message');
    const [atNear, atFarTyping, atSelf] = [near, far, typist].map((c) => frames<TypingNoticeFrame>(c, 'typing', 'typing'));
    const redis = stack.redis.client();
    const keysBefore = (await redis.keys('chat:ch:{typing}:*')).filter((k) => !k.includes(':typing:')).sort();
    typist.typing('typing');
    for (let i = 0; i < 20; i++) typist.typing('typing'); // within the window: dropped
    await waitFor(() => atNear.length >= 1 && atFarTyping.length >= 1 || undefined, 'the typing notice at both other members');
    await Promise.all([typist.ping(), near.ping(), far.ping()]);
    await near.ping();
    expect(atNear).to.deep.equal([{ type: 'typing', channel: 'typing', user: 'typist' }]);
    expect(atFarTyping).to.deep.equal([{ type: 'typing', channel: 'typing', user: 'typist' }]);
    expect(atSelf, 'the typist gets no notice of itself').to.deep.equal([]);
    expect(await redis.get('chat:ch:{typing}:seq'), 'typing takes no seq').to.equal('1');
    expect(await redis.zcard('chat:ch:{typing}:msgs')).to.equal(1);
    expect(await redis.zcard('chat:ch:{typing}:events')).to.equal(0);
    const keysAfter = (await redis.keys('chat:ch:{typing}:*')).filter((k) => !k.includes(':typing:')).sort();
    expect(keysAfter, 'no key but the 2 s typing window').to.deep.equal(keysBefore);
    expect(await redis.pttl('chat:ch:{typing}:typing:typist')).to.be.within(1, 2000);
    // After the window, the next one goes on.
    await waitFor(async () => (await redis.exists('chat:ch:{typing}:typing:typist')) === 0 || undefined, 'the typing window to pass', 5000);
    await new Promise((r) => setTimeout(r, 50)); // the connection's own window ends with Redis's
    typist.typing('typing');
    await waitFor(() => atFarTyping.length >= 2 || undefined, 'the next typing notice after the window');
  });

  it('shares the read marker between two tabs of one user, counts unread down, and coalesces receipts', async function () {
    const writer = await connect(1, 'poster');
    await writer.join('reads');
    for (let i = 1; i <= 6; i++) await writer.send('reads', `m${i}`, `r${i}`);
    await waitFor(async () => (await stack.redis.client().get('chat:ch:{reads}:seq')) === '6' || undefined, 'six stored');
    await writer.delete('reads', 6, 'del6');
    const tab1 = await connect(0, 'dana');
    const tab2 = await connect(1, 'dana');
    const first = await tab1.join('reads');
    expect([first.read, first.unread], 'no marker: every message by others, less the deleted one').to.deep.equal([0, 5]);
    await tab2.join('reads');
    const receipts2 = frames<ReceiptsFrame>(tab2, 'receipts', 'reads');
    const receiptsW = frames<ReceiptsFrame>(writer, 'receipts', 'reads');
    tab1.read('reads', 3);
    await waitFor(() => receipts2.some((r) => r.read.dana === 3) || undefined, 'the other tab to hear of the marker');
    await waitFor(() => receiptsW.some((r) => r.read.dana === 3) || undefined, 'the writer to get the receipt');
    const again = await tab2.join('reads');
    expect([again.read, again.unread], 'the other tab\'s history').to.deep.equal([3, 2]);
    tab2.read('reads', 2); // lower: changes nothing
    tab2.read('reads', 1000); // past the latest: counts as the latest (7)
    await waitFor(() => receipts2.some((r) => r.read.dana === 7) || undefined, 'the marker at the latest seq');
    const last = await tab1.join('reads');
    expect([last.read, last.unread]).to.deep.equal([7, 0]);
    expect(await http('/channels/reads/receipts')).to.deep.equal({ channel: 'reads', read: { dana: 7 } });

    // 100 readers (20 users × 5 reads) in about a second: a handful of receipts frames.
    const readers = await Promise.all(Array.from({ length: 20 }, (_, i) => connect(i % 2, `reader-${i}`)));
    for (const r of readers) await r.join('reads');
    const before = receiptsW.length;
    for (let step = 1; step <= 5; step++) {
      for (const r of readers) r.read('reads', step);
      await new Promise((res) => setTimeout(res, 200));
    }
    const merged = (): Record<string, number> => receiptsW.slice(before).reduce((acc, r) => ({ ...acc, ...r.read }), {});
    await waitFor(() => Array.from({ length: 20 }, (_, i) => merged()[`reader-${i}`]).every((m) => m === 5) || undefined,
      () => `every reader's last marker at the writer (${JSON.stringify(merged())})`);
    await new Promise((res) => setTimeout(res, 400)); // no frame is still coming: the coalescing window is 250 ms
    const got = receiptsW.slice(before);
    console.log(`      100 reads by 20 users in 1 s reached the writer as ${got.length} receipts frames`);
    expect(got.length, 'receipts frames for 100 reads').to.be.within(1, 8);
  });

  it('pages backwards from the newest through every retained message exactly once, down to more:false', async function () {
    const poster = await connect(0, 'pager');
    await poster.join('pages');
    const total = 237;
    await Promise.all(Array.from({ length: total }, (_, i) => poster.send('pages', `p${i + 1}`, `pg${i + 1}`)));
    await waitFor(async () => Number(await stack.redis.client().get('chat:ch:{pages}:seq')) === total || undefined, 'every message stored');
    const seen: number[] = [];
    let before: number | undefined;
    let pages = 0;
    for (;;) {
      const page = await poster.page('pages', before, 50);
      pages++;
      expect(page.before).to.equal(before);
      const seqs = page.messages.map((m) => m.seq);
      expect(seqs, 'oldest first').to.deep.equal([...seqs].sort((a, b) => a - b));
      seen.unshift(...seqs);
      if (!page.more) break;
      before = seqs[0];
    }
    expect(pages).to.equal(5);
    expect(seen).to.deep.equal(Array.from({ length: total }, (_, i) => i + 1));
    expect((await refusal(poster.page('pages', 10, 101))).code, 'limit past 100').to.equal('bad_request');
    const other = await connect(1, 'outsider');
    expect((await refusal(other.page('pages'))).code, 'page without join').to.equal('not_joined');
  });

  it('counts updates against the message rate, and typing, read and page against the frame budget only', async function () {
    const slow = await PushServerProcess.start({ ...stack.env, RATE_LIMIT: '2', RATE_BURST: '2' });
    stack.pushServers.push(slow);
    const token = await mintToken('limited', SECRET, 3600);
    const c = await ChatClient.connect(slow.url, { token, socket: (u) => new WebSocket(u) as unknown as SocketLike });
    clients.push(c);
    await c.join('limits');
    await c.send('limits', 'one', 'l1');
    await c.send('limits', 'two', 'l2');
    const limited = await refusal(c.edit('limits', 1, 'too soon'));
    expect(limited.code, 'an edit past the message burst').to.equal('rate_limited');
    // Typing, read and page do not draw on the message bucket ...
    c.typing('limits');
    c.read('limits', 1);
    expect((await c.page('limits')).messages.length).to.be.at.most(2);
    // ... but on the frame budget (10 × RATE_BURST = 20): a burst of 30 page requests gets refusals.
    const answers = await Promise.allSettled(Array.from({ length: 30 }, () => c.page('limits')));
    const refused = answers.filter((a) => a.status === 'rejected').map((a) => ((a as PromiseRejectedResult).reason as ChatError).code);
    expect(refused.length, 'page requests refused past the frame budget').to.be.greaterThan(0);
    expect(new Set(refused)).to.deep.equal(new Set(['rate_limited']));
  });
});
