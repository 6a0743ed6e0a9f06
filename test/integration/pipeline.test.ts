/**
 * The pipeline end to end (SPEC §1-4): real Redis, two push servers, two workers, WebSocket
 * clients. Each test uses its own channel names so tests do not see each other's traffic.
 */
import { expect } from 'chai';
import WebSocket from 'ws';
import { Redis } from 'ioredis';
import { chatUrl, type ChatClient, type ErrorFrame, type HistoryFrame, type MessageFrame } from '@chat/shared';
import { Stack, collect, waitForCount } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

for (const mode of ['one Redis', 'a 3-master Redis Cluster'] as const) describe(`pipeline: two push servers, two workers, ${mode}`, function () {
  let stack: Stack;

  before(async function () {
    stack = await Stack.start({ pushServers: 2, workers: 2, ...(mode === 'one Redis' ? {} : { cluster: { masters: 3 } }) });
  });
  after(async function () {
    await stack?.stop();
  });

  it('delivers a message, with an ack, to the sender and to members on both push servers', async function () {
    const alice = await stack.connect(0, 'alice');
    const bob = await stack.connect(1, 'bob');
    expect(alice.welcome.serverId).to.not.equal(bob.welcome.serverId);
    expect(alice.welcome).to.include({ type: 'welcome', user: 'alice', historyLimit: 10, maxTextBytes: 4096 });
    const [ha, hb] = await Promise.all([alice.join('deliver'), bob.join('deliver')]);
    expect(ha).to.deep.include({ type: 'history', channel: 'deliver', messages: [], seq: 0, complete: true });
    expect(hb.seq).to.equal(0);
    const atAlice = collect(alice, 'deliver');
    const atBob = collect(bob, 'deliver');

    const before = Date.now();
    const ack = await alice.send('deliver', 'hi bob', 'c-1');
    expect(ack).to.deep.equal({ type: 'ack', id: 'c-1', channel: 'deliver' });
    await waitForCount(atAlice, 1, 'messages at alice');
    await waitForCount(atBob, 1, 'messages at bob');
    for (const m of [atAlice[0], atBob[0]] as MessageFrame[]) {
      expect(m).to.include({ type: 'message', channel: 'deliver', id: 'c-1', author: 'alice', text: 'hi bob', seq: 1 });
      expect(m.timestamp).to.be.within(before - 5000, Date.now() + 5000);
    }
    await bob.send('deliver', 'hi alice');
    await waitForCount(atAlice, 2, 'messages at alice');
    await waitForCount(atBob, 2, 'messages at bob');
    expect(atAlice[1]).to.include({ author: 'bob', text: 'hi alice', seq: 2 });
    expect(atBob[1]).to.deep.equal(atAlice[1]);
  });

  it('keeps channels apart: a client gets messages only for channels it joined', async function () {
    const sender = await stack.connect(0, 'sender');
    const member = await stack.connect(1, 'member');
    const outsider = await stack.connect(1, 'outsider');
    await sender.join('iso-a');
    await member.join('iso-a');
    await outsider.join('iso-b');
    const atMember = collect(member, 'iso-a');
    const atOutsider: MessageFrame[] = [];
    outsider.on('message', (m) => atOutsider.push(m));
    for (let i = 0; i < 5; i++) await sender.send('iso-a', `secret ${i}`);
    await waitForCount(atMember, 5, 'iso-a messages at the member');
    // The outsider is on the same push server as the member: had it been routed the messages,
    // they were written to its socket before this pong.
    await outsider.ping();
    expect(atOutsider).to.have.length(0);
    await outsider.send('iso-b', 'own channel');
    await waitForCount(atOutsider, 1, 'own message');
    expect(atOutsider.map((m) => m.channel)).to.deep.equal(['iso-b']);
  });

  /** Writes `m1`…`mN` into a fresh channel and waits until they are stored. */
  async function written(channel: string, n: number): Promise<void> {
    const writer = await stack.connect(0, `writer-${channel}`);
    await writer.join(channel);
    const seen = collect(writer, channel);
    for (let i = 1; i <= n; i++) await writer.send(channel, `m${i}`);
    await waitForCount(seen, n, 'stored messages');
  }

  it('gives a late joiner exactly the last 10 messages, oldest first', async function () {
    await written('late', 15);
    const late = await stack.connect(1, 'latecomer');
    const history = await late.join('late');
    expect(history.complete).to.equal(true);
    expect(history.seq).to.equal(15);
    expect(history.messages.map((m) => m.text)).to.deep.equal(Array.from({ length: 10 }, (_, i) => `m${i + 6}`));
    expect(history.messages.map((m) => m.seq)).to.deep.equal(Array.from({ length: 10 }, (_, i) => i + 6));
    expect(history.messages.every((m) => m.author === 'writer-late' && m.channel === 'late')).to.equal(true);
  });

  it('answers join with since with exactly the later messages', async function () {
    await written('since', 15);
    const reader = await stack.connect(0, 'reader');
    const after11 = await reader.join('since', 11);
    expect(after11.messages.map((m) => m.seq)).to.deep.equal([12, 13, 14, 15]);
    expect(after11).to.include({ seq: 15, complete: true });
    const none = await reader.join('since', 15);
    expect(none.messages).to.deep.equal([]);
    expect(none.complete).to.equal(true);
    const all = await reader.join('since', 0);
    expect(all.messages.map((m) => m.text)).to.deep.equal(Array.from({ length: 15 }, (_, i) => `m${i + 1}`));
    const res = await fetch(`${stack.push(1).httpUrl}/channels/since/messages?since=13`);
    const body = (await res.json()) as HistoryFrame;
    expect(body.messages.map((m) => m.seq)).to.deep.equal([14, 15]);
    expect(body).to.include({ channel: 'since', seq: 15, complete: true });
  });

  it('keeps one gap-free order for 12 clients on two servers sending 30 messages each at once', async function () {
    const clients: ChatClient[] = [];
    for (let i = 0; i < 12; i++) clients.push(await stack.connect(i % 2, `storm-${i}`));
    await Promise.all(clients.map((c) => c.join('storm')));
    const received = clients.map((c) => collect(c, 'storm'));
    const acks = clients.flatMap((c, i) => Array.from({ length: 30 }, (_, n) => c.send('storm', `${i}:${n}`, `s${i}-${n}`)));
    await Promise.all(acks);
    for (const [i, list] of received.entries()) await waitForCount(list, 360, `messages at client ${i}`, 30_000);
    const reference = (received[0] as MessageFrame[]).map((m) => m.id);
    for (const list of received) {
      expect(list.map((m) => m.seq)).to.deep.equal(Array.from({ length: 360 }, (_, k) => k + 1));
      expect(list.map((m) => m.id)).to.deep.equal(reference);
    }
    for (let i = 0; i < 12; i++) {
      const mine = (received[0] as MessageFrame[]).filter((m) => m.author === `storm-${i}`).map((m) => Number(m.text.split(':')[1]));
      expect(mine, `send order of storm-${i}`).to.deep.equal(Array.from({ length: 30 }, (_, n) => n));
    }
  });

  it('stores and delivers a retried id once', async function () {
    const a = await stack.connect(0, 'retrier');
    const b = await stack.connect(1, 'watcher');
    await a.join('retry');
    await b.join('retry');
    const atB = collect(b, 'retry');
    const first = await a.send('retry', 'once', 'dup-1');
    const second = await a.send('retry', 'once', 'dup-1');
    expect(first.id).to.equal('dup-1');
    expect(second.id).to.equal('dup-1');
    await a.send('retry', 'after', 'dup-2');
    await waitFor(() => atB.some((m) => m.id === 'dup-2'), 'the message after the retry');
    expect(atB.map((m) => m.id)).to.deep.equal(['dup-1', 'dup-2']);
    expect(atB.map((m) => m.seq)).to.deep.equal([1, 2]);
    const history = await b.join('retry');
    expect(history.messages.map((m) => m.id)).to.deep.equal(['dup-1', 'dup-2']);
    // The same id from another author is a different message.
    await b.send('retry', 'mine', 'dup-1');
    await waitFor(() => atB.length === 3, 'the other author\'s message');
    expect(atB[2]).to.include({ id: 'dup-1', author: 'watcher', seq: 3 });
  });

  it('forwards typing notices of several users and channels, gathered into one step, each once to the other members', async function () {
    // Six typists in three channels on push server 0 type within one 20 ms batch; a watcher per
    // channel on push server 1 gets exactly the notices of its own channel, each once. (On the
    // cluster the three channels live in different slots: one step per channel.)
    const channels = ['type-a', 'type-b', 'type-c'];
    const typists = await Promise.all(channels.flatMap((c) => [0, 1].map((n) => stack.connect(0, `${c}-typist-${n}`))));
    const watchers = await Promise.all(channels.map((c) => stack.connect(1, `${c}-watcher`)));
    await Promise.all(channels.map((c, i) => (watchers[i] as ChatClient).join(c)));
    await Promise.all(typists.map((t, i) => t.join(channels[Math.floor(i / 2)] as string)));
    const seen = watchers.map((w) => {
      const got: string[] = [];
      w.on('typing', (f) => got.push(`${f.channel}:${f.user}`));
      return got;
    });
    typists.forEach((t, i) => { t.typing(channels[Math.floor(i / 2)] as string); t.typing(channels[Math.floor(i / 2)] as string); });
    await waitFor(() => seen.every((got) => got.length >= 2) || undefined, () => `two notices at each watcher (${seen.map((g) => g.length).join(', ')})`);
    // Then one more typist per channel, in a later step: its notice reaches the watcher after
    // everything the first step published to it (one Redis, or the channel's own shard), so once
    // it is there no duplicate of the first notices is still on its way.
    const late = await Promise.all(channels.map((c) => stack.connect(0, `${c}-late`)));
    await Promise.all(late.map((t, i) => t.join(channels[i] as string)));
    late.forEach((t, i) => t.typing(channels[i] as string));
    await waitFor(() => seen.every((got, i) => got.includes(`${channels[i]}:${channels[i]}-late`)) || undefined, 'the late typist\'s notice at each watcher');
    seen.forEach((got, i) => expect(got.sort(), `notices at the ${channels[i]} watcher`)
      .to.deep.equal([`${channels[i]}:${channels[i]}-late`, ...[0, 1].map((n) => `${channels[i]}:${channels[i]}-typist-${n}`)].sort()));
  });

  it('sets author and timestamp on the server, never from the client', async function () {
    const c = await stack.connect(0, 'honest');
    await c.join('forge');
    const got = collect(c, 'forge');
    c.sendRaw(JSON.stringify({ type: 'message', channel: 'forge', text: 'x', id: 'f-1', author: 'mallory', timestamp: 1, seq: 99 }));
    await waitForCount(got, 1, 'the message');
    expect(got[0]).to.include({ author: 'honest', seq: 1 });
    expect(got[0]?.timestamp).to.be.greaterThan(1_600_000_000_000);
  });

  it('answers every bad input with its error code and keeps the connection usable', async function () {
    const c = await stack.connect(1, 'fuzzy');
    const errors: ErrorFrame[] = [];
    c.on('error', (e) => errors.push(e));
    const cases: Array<{ send: string | Uint8Array; code: string; ref?: string }> = [
      { send: 'not json', code: 'bad_request' },
      { send: new Uint8Array([1, 2, 3]), code: 'bad_request' },
      { send: '[1,2]', code: 'bad_request' },
      { send: '{"type":"shout","channel":"general"}', code: 'bad_request' },
      { send: '{"channel":"general"}', code: 'bad_request' },
      { send: '{"type":"join","channel":42}', code: 'bad_request' },
      { send: '{"type":"join","channel":"ok","since":-1}', code: 'bad_request' },
      { send: '{"type":"join","channel":"ok","since":"5"}', code: 'bad_request' },
      { send: '{"type":"message","channel":"ok","text":5,"id":"t-1"}', code: 'bad_request', ref: 't-1' },
      { send: `{"type":"message","channel":"ok","text":"x","id":"${'i'.repeat(65)}"}`, code: 'bad_request' },
      { send: '{"type":"join","channel":"bad channel!"}', code: 'invalid_channel' },
      { send: '{"type":"join","channel":"-starts-with-dash"}', code: 'invalid_channel' },
      { send: `{"type":"join","channel":"${'c'.repeat(65)}"}`, code: 'invalid_channel' },
      { send: '{"type":"message","channel":"never-joined","text":"x","id":"t-2"}', code: 'not_joined', ref: 't-2' },
      { send: '{"type":"leave","channel":"never-joined"}', code: 'not_joined' },
      { send: '{"type":"presence","channel":"never-joined"}', code: 'not_joined' },
    ];
    for (const [i, test] of cases.entries()) {
      c.sendRaw(test.send);
      await waitFor(() => errors.length === i + 1, `an error for case ${i}`);
      const e = errors[i] as ErrorFrame;
      expect(e.code, `case ${i}: ${String(test.send).slice(0, 60)}`).to.equal(test.code);
      expect(e.message).to.be.a('string').and.not.equal('');
      if (test.code === 'bad_request') expect(e.details).to.be.an('array').that.is.not.empty;
      if (test.ref) expect(e.ref).to.equal(test.ref);
      await c.ping();
    }
    await c.join('bad-input');
    const tooBig = 'é'.repeat(2049); // 4098 bytes, 2049 characters
    const err = await c.send('bad-input', tooBig, 'big-1').then(() => undefined, (e: { frame: ErrorFrame }) => e.frame);
    expect(err).to.include({ code: 'too_large', ref: 'big-1' });
    const ok = await c.send('bad-input', 'é'.repeat(2048), 'fits-1');
    expect(ok.id).to.equal('fits-1');
    expect(c.isOpen).to.equal(true);
  });

  it('closes a connection that sends a frame over the payload limit with 1009', async function () {
    const ws = new WebSocket(`${stack.push(0).url}/ws?user=huge`);
    await new Promise((r) => ws.once('message', r));
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    ws.send('x'.repeat(200_000));
    expect(await closed).to.equal(1009);
  });

  it('joins channels named in the connection URL at once', async function () {
    // A raw socket records every frame from the first: the histories can come in the same read
    // as the welcome, before a client library's listener could be attached.
    const ws = new WebSocket(chatUrl(stack.push(0).url, { user: 'quick', channels: ['url-a', 'url-b'] }));
    const frames: Array<{ type: string; channel?: string; id?: string }> = [];
    ws.on('message', (data) => frames.push(JSON.parse(String(data)) as { type: string }));
    try {
      await waitFor(() => frames.filter((f) => f.type === 'history').length === 2 || undefined, 'two histories');
      expect(frames[0]?.type, 'the first frame').to.equal('welcome');
      expect(frames.filter((f) => f.type === 'history').map((h) => h.channel).sort()).to.deep.equal(['url-a', 'url-b']);
      ws.send(JSON.stringify({ type: 'message', channel: 'url-b', id: 'url-1', text: 'works' }));
      await waitFor(() => frames.some((f) => f.type === 'ack' && f.id === 'url-1') || undefined, 'the ack of a message to a channel joined by the URL');
    } finally {
      ws.close();
    }
  });

  if (mode !== 'one Redis') {
    it('delivers through sharded pub/sub: one shard channel per server in the channel\'s slot, no classic inbox', async function () {
      const cluster = stack.cluster!;
      const alice = await stack.connect(0, 'alice');
      const bob = await stack.connect(1, 'bob');
      await Promise.all([alice.join('sharded'), bob.join('sharded')]);
      const node = new Redis(await cluster.masterOf('chat:ch:{sharded}:msgs'), '127.0.0.1');
      try {
        const expected = [alice.welcome.serverId, bob.welcome.serverId].map((id) => `chat:ch:{sharded}:inbox:${id}`).sort();
        expect((await node.call('PUBSUB', 'SHARDCHANNELS', 'chat:ch:{sharded}:inbox:*') as string[]).sort()).to.deep.equal(expected);
        const atBob = collect(bob, 'sharded');
        await alice.send('sharded', 'via the shard channel', 's-1');
        await waitForCount(atBob, 1, 'messages at bob');
        await bob.leave('sharded');
        await waitFor(async () => {
          const left = await node.call('PUBSUB', 'SHARDCHANNELS', 'chat:ch:{sharded}:inbox:*') as string[];
          return left.length === 1 && left[0] === expected.find((c) => c.endsWith(alice.welcome.serverId));
        }, 'bob\'s server to drop its shard subscription');
        for (const port of cluster.ports) {
          const each = new Redis(port, '127.0.0.1');
          try {
            expect(await each.call('PUBSUB', 'CHANNELS', 'chat:*'), `classic channels on ${port}`).to.deep.equal([]);
          } finally {
            each.disconnect();
          }
        }
      } finally {
        node.disconnect();
      }
    });
  }

  it('delivers a stored message whose publication was lost, from the store, at the gap check', async function () {
    const carol = await stack.connect(1, 'carol');
    await carol.join('gapfill');
    const got = collect(carol, 'gapfill');
    // Stored as the Lua step stores it, but never published: only the heartbeat's gap check can deliver it.
    const redis = stack.cluster ? stack.cluster.client() : stack.redis.client();
    const seq = await redis.incr('chat:ch:{gapfill}:seq');
    const frame = `{"type":"message","seq":${seq},"timestamp":${Date.now()},"channel":"gapfill","id":"g-1","author":"ghost","text":"never published"}`;
    await redis.zadd('chat:ch:{gapfill}:msgs', seq, frame);
    await waitForCount(got, 1, 'the unpublished message', 10_000);
    expect(got[0]).to.include({ id: 'g-1', seq: 1, text: 'never published' });
  });

  it('serves /health, /ready and /channels across push servers', async function () {
    const a = await stack.connect(0, 'counter-a');
    const b = await stack.connect(1, 'counter-b');
    const c = await stack.connect(1, 'counter-c');
    await Promise.all([a.join('counted'), b.join('counted'), c.join('counted')]);
    const health = await (await fetch(`${stack.push(0).httpUrl}/health`)).json();
    expect(health).to.deep.equal({ status: 'ok', serverId: stack.push(0).serverId });
    expect((await fetch(`${stack.push(1).httpUrl}/ready`)).status).to.equal(200);
    const body = (await (await fetch(`${stack.push(0).httpUrl}/channels`)).json()) as { channels: { name: string; members: number }[] };
    expect(body.channels.find((ch) => ch.name === 'counted')).to.deep.equal({ name: 'counted', members: 3 });
    await c.leave('counted');
    await waitFor(async () => {
      const now = (await (await fetch(`${stack.push(0).httpUrl}/channels`)).json()) as typeof body;
      return now.channels.find((ch) => ch.name === 'counted')?.members === 2;
    }, 'the count to drop after leave');
    const bad = await fetch(`${stack.push(0).httpUrl}/channels/bad%20name/messages`);
    expect(bad.status).to.equal(400);
    const badLimit = await fetch(`${stack.push(0).httpUrl}/channels/counted/messages?limit=abc`);
    expect(badLimit.status).to.equal(400);
    expect((await fetch(`${stack.push(0).httpUrl}/nope`)).status).to.equal(404);
  });
});
