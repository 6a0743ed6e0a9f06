/**
 * Presence and identity across push servers (SPEC §3): full list after history, coalesced diffs,
 * unique names, crash cleanup within 3 heartbeats.
 */
import { expect } from 'chai';
import type { ChatClient, ErrorFrame, PresenceFrame } from '@chat/shared';
import { ChatError } from '@chat/shared';
import { Stack, TEST_ENV } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

/** Tracks a client's view of a channel's presence from the frames it receives. */
function presenceView(client: ChatClient, channel: string): { users: Set<string>; frames: PresenceFrame[] } {
  const view = { users: new Set<string>(), frames: [] as PresenceFrame[] };
  client.on('presence', (p) => {
    if (p.channel !== channel) return;
    view.frames.push(p);
    if (p.users) { view.users.clear(); for (const u of p.users) view.users.add(u); }
    for (const u of p.joined ?? []) view.users.add(u);
    for (const u of p.left ?? []) view.users.delete(u);
  });
  return view;
}

const sorted = (s: Set<string>): string[] => [...s].sort();

describe('presence across push servers', function () {
  let stack: Stack;
  const interval = 50;
  before(async function () {
    stack = await Stack.start({ pushServers: 2, workers: 1, env: { PRESENCE_INTERVAL_MS: String(interval) } });
  });
  after(async function () {
    await stack?.stop();
  });

  it('sends the full list after history, then diffs, counting every server; leave and disconnect remove names', async function () {
    const alice = await stack.connect(0, 'alice');
    const aliceView = presenceView(alice, 'room');
    const order: string[] = [];
    alice.on('frame', (f) => { if (f.type === 'history' || f.type === 'presence') order.push(f.type); });
    await alice.join('room');
    await waitFor(() => aliceView.frames.length === 1, 'alice\'s full list');
    expect(order.slice(0, 2)).to.deep.equal(['history', 'presence']);
    expect(aliceView.frames[0]).to.deep.equal({ type: 'presence', channel: 'room', users: ['alice'] });

    const bob = await stack.connect(1, 'bob');
    const bobView = presenceView(bob, 'room');
    await bob.join('room');
    await waitFor(() => bobView.frames.length === 1, 'bob\'s full list');
    expect(bobView.frames[0]?.users).to.deep.equal(['alice', 'bob']);
    await waitFor(() => aliceView.users.has('bob'), 'alice to see bob join');
    expect(aliceView.frames[1]).to.deep.equal({ type: 'presence', channel: 'room', joined: ['bob'], left: [] });

    const asked = await alice.presence('room');
    expect(asked.users).to.deep.equal(['alice', 'bob']);
    const http = await (await fetch(`${stack.push(0).httpUrl}/channels/room/presence`)).json();
    expect(http).to.deep.equal({ channel: 'room', users: ['alice', 'bob'] });
    const channels = (await (await fetch(`${stack.push(1).httpUrl}/channels`)).json()) as { channels: { name: string; members: number }[] };
    expect(channels.channels.find((c) => c.name === 'room')).to.deep.equal({ name: 'room', members: 2 });

    const carol = await stack.connect(1, 'carol');
    await carol.join('room');
    await waitFor(() => aliceView.users.has('carol'), 'alice to see carol');
    await bob.leave('room');
    await waitFor(() => !aliceView.users.has('bob'), 'alice to see bob leave');
    await carol.close();
    await waitFor(() => !aliceView.users.has('carol'), 'alice to see carol disconnect');
    expect(sorted(aliceView.users)).to.deep.equal(['alice']);
    expect(await (await fetch(`${stack.push(1).httpUrl}/channels/room/presence`)).json()).to.deep.equal({ channel: 'room', users: ['alice'] });
  });

  it('lets exactly one of 50 clients racing for one name have it', async function () {
    const clients = await Promise.all(Array.from({ length: 50 }, (_, i) => stack.connect(i % 2, 'highlander')));
    const results = await Promise.allSettled(clients.map((c) => c.join('race')));
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).to.have.length(1);
    expect(lost).to.have.length(49);
    for (const r of lost) {
      expect(r.reason).to.be.instanceOf(ChatError);
      expect((r.reason as ChatError).frame).to.include({ code: 'name_taken', channel: 'race' });
    }
    const http = await (await fetch(`${stack.push(0).httpUrl}/channels/race/presence`)).json();
    expect(http).to.deep.equal({ channel: 'race', users: ['highlander'] });
    // A refused client may not send there, and may use the name elsewhere.
    const loser = clients[results.findIndex((r) => r.status === 'rejected')] as ChatClient;
    const err = await loser.send('race', 'x').then(() => undefined, (e: ChatError) => e.frame as ErrorFrame);
    expect(err?.code).to.equal('not_joined');
    await loser.join('elsewhere');
  });

  it('lets the same client session reclaim its name on another server before the old connection is gone', async function () {
    const first = await stack.connect(0, 'roamer', { session: 'sess-1' });
    await first.join('roam');
    const thief = await stack.connect(1, 'roamer', { session: 'other' });
    const refused = await thief.join('roam').then(() => undefined, (e: ChatError) => e.code);
    expect(refused).to.equal('name_taken');
    const again = await stack.connect(1, 'roamer', { session: 'sess-1' });
    const history = await again.join('roam');
    expect(history.channel).to.equal('roam');
    expect((await again.presence('roam')).users).to.deep.equal(['roamer']);
    await first.close();
    // The name stays while the reclaiming connection holds it.
    await again.ping();
    expect((await again.presence('roam')).users).to.deep.equal(['roamer']);
  });

  it('coalesces a burst of 200 joins into a bounded number of frames per member', async function () {
    const observer = await stack.connect(0, 'observer');
    const view = presenceView(observer, 'crowd');
    await observer.join('crowd');
    await waitFor(() => view.frames.length === 1, 'the observer\'s full list');
    const crowd = await Promise.all(Array.from({ length: 200 }, (_, i) => stack.connect(i % 2, `guest-${i}`)));
    await Promise.all(crowd.map((c) => c.join('crowd')));
    await waitFor(() => view.users.size === 201, 'all 201 names at the observer', 20_000);
    const diffs = view.frames.length - 1;
    expect(diffs, 'presence frames for 200 joins').to.be.at.least(1).and.at.most(20);
    expect(view.frames.slice(1).every((f) => f.users === undefined)).to.equal(true);
    await Promise.all(crowd.map((c) => c.close()));
    await waitFor(() => view.users.size === 1, 'everyone to leave', 20_000);
    expect(view.frames.length - 1 - diffs, 'frames for 200 departures').to.be.at.most(20);
  });
});

describe('presence: a push server killed -9', function () {
  let stack: Stack;
  before(async function () {
    stack = await Stack.start({ pushServers: 2, workers: 1, env: { PRESENCE_INTERVAL_MS: '50' } });
  });
  after(async function () {
    await stack?.stop();
  });

  it('removes its names within 3 heartbeats', async function () {
    const heartbeat = Number(TEST_ENV.HEARTBEAT_MS);
    const doomed = await Promise.all(['dave', 'dora'].map((n) => stack.connect(0, n)));
    await Promise.all(doomed.map((c) => c.join('fragile')));
    const erin = await stack.connect(1, 'erin');
    const view = presenceView(erin, 'fragile');
    await erin.join('fragile');
    await waitFor(() => view.users.size === 3, 'three names');
    const redis = stack.redis.client();
    const serverId = stack.push(0).serverId;
    // The last heartbeat's route expiry bounds when the names may go.
    const routeExpiry = Number(await redis.zscore('chat:ch:{fragile}:routes', serverId));
    await stack.push(0).program.kill('SIGKILL');
    const killedAt = Date.now();
    await waitFor(() => sorted(view.users).join() === 'erin' || undefined, 'the dead server\'s names to go', 10 * heartbeat);
    const [s, us] = (await redis.time()) as unknown as [string, string];
    const redisNow = Number(s) * 1000 + Math.floor(Number(us) / 1000);
    expect(routeExpiry - killedAt, 'route lifetime left at the kill').to.be.at.most(3 * heartbeat);
    expect(redisNow - (routeExpiry - 2.5 * heartbeat), 'names gone after the last heartbeat').to.be.at.most(3 * heartbeat + 400);
    expect(await (await fetch(`${stack.push(1).httpUrl}/channels/fragile/presence`)).json()).to.deep.equal({ channel: 'fragile', users: ['erin'] });
    // The names are free again.
    const newDave = await stack.connect(1, 'dave');
    await newDave.join('fragile');
  });
});
