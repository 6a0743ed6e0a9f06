/**
 * Authorization on every door (SPEC §7, end of §4), against real push servers, a real identity
 * provider's JWKS served over HTTP, and the application's hook as a real HTTP server.
 */
import { expect } from 'chai';
import WebSocket from 'ws';
import { ChatClient, ChatError, mintToken, type SocketLike } from '@chat/shared';
import { HookServer, IdentityProvider } from '../helpers/idp.js';
import { runProducer, PushServerProcess } from '../helpers/programs.js';
import { tryConnect } from '../helpers/raw-ws.js';
import { Stack, collect, waitForCount } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const SECRET = 'authz-secret-0123456789abcdef';
const API_KEY = 'server-api-key-0123456789abcdef';

const token = (user: string, claims: { channels?: string[]; channelsRead?: string[] } = {}, ttl = 600): Promise<string> =>
  mintToken(user, SECRET, ttl, claims);

async function connect(url: string, jwt: string, channels: string[] = []): Promise<ChatClient> {
  return ChatClient.connect(url, { token: jwt, channels, socket: (u) => new WebSocket(u) as unknown as SocketLike });
}

const refusal = (p: Promise<unknown>): Promise<ChatError | undefined> => p.then(() => undefined, (e: ChatError) => e);

describe('authorization: claims, the HTTP doors, expiry and refresh (HS256)', function () {
  let stack: Stack;
  let hook: HookServer;
  const clients: ChatClient[] = [];
  const open = async (jwt: string, channels: string[] = [], server = 0): Promise<ChatClient> => {
    const c = await connect(stack.push(server).url, jwt, channels);
    clients.push(c);
    return c;
  };
  before(async function () {
    hook = await HookServer.start();
    stack = await Stack.start({ pushServers: 2, workers: 1, env: { AUTH_SECRET: SECRET, SERVER_API_KEY: API_KEY, AUTH_HOOK_URL: hook.url } });
  });
  after(async function () {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await stack?.stop();
    await hook?.close();
  });

  it('lets team-1:* join team-1:x, refuses team-2:x with forbidden, and stays connected in its channels', async function () {
    const member = await open(await token('tess', { channels: ['team-1:*'] }));
    const other = await open(await token('omar', { channels: ['team-1:*'] }), [], 1);
    await member.join('team-1:x');
    await other.join('team-1:x');
    const refused = await refusal(member.join('team-2:x'));
    expect(refused?.frame).to.include({ code: 'forbidden', channel: 'team-2:x' });
    expect(refused?.message).to.match(/does not allow|does not permit/);
    expect(member.isOpen).to.equal(true);
    const got = collect(member, 'team-1:x');
    await other.send('team-1:x', 'still here?', 't1');
    await waitForCount(got, 1, 'the message in the permitted channel');
    expect(got[0]).to.include({ author: 'omar', text: 'still here?' });
    // Not even a message frame for a channel it was refused.
    const write = await refusal(member.send('team-2:x', 'sneak', 'sneak-1'));
    expect(write?.frame).to.include({ code: 'not_joined', ref: 'sneak-1' });
  });

  it('lets channels_read read but answers a send with forbidden (ref = the id), and writes through channels', async function () {
    const reader = await open(await token('rita', { channelsRead: ['announce'] }));
    const writer = await open(await token('walt', { channels: ['announce'] }));
    await reader.join('announce');
    await writer.join('announce');
    const got = collect(reader, 'announce');
    await writer.send('announce', 'release 1.0', 'a1');
    await waitForCount(got, 1, 'the announcement');
    const refused = await refusal(reader.send('announce', 'me too', 'r1'));
    expect(refused?.frame).to.include({ code: 'forbidden', ref: 'r1', channel: 'announce' });
    // Claims grant only reading; the write is asked of the hook (action write), which says no.
    expect(refused?.message).to.match(/does not allow rita to write announce/);
    expect(hook.requests.filter((r) => r.channel === 'announce')).to.deep.equal([{ user: 'rita', channel: 'announce', action: 'write' }]);
    expect(reader.isOpen).to.equal(true);
    expect(await stack.redis.client().zcard('chat:ch:{announce}:msgs')).to.equal(1);
  });

  it('gives a DM channel granted to both users, and names members by their token\'s sub', async function () {
    const alice = await open(await token('alice', { channels: ['dm:alice:bob'] }), ['dm:alice:bob']);
    const bob = await open(await token('bob', { channels: ['dm:alice:bob'] }), [], 1);
    await bob.join('dm:alice:bob');
    const eve = await open(await token('eve', { channels: ['dm:eve:*'] }));
    expect((await refusal(eve.join('dm:alice:bob')))?.frame?.code).to.equal('forbidden');
    await waitFor(async () => (await alice.presence('dm:alice:bob')).users?.join(',') === 'alice,bob' || undefined, 'both names in presence');
  });

  it('answers a channel= in the URL that is not permitted with forbidden, and opens the connection', async function () {
    const c = await open(await token('urla', { channels: ['ok-*'] }), ['ok-1', 'nope-1']);
    const errors: string[] = [];
    c.on('error', (e) => errors.push(`${e.code} ${e.channel}`));
    await waitFor(() => errors.includes('forbidden nope-1') || undefined, 'forbidden for the URL channel');
    expect((await c.presence('ok-1')).users).to.deep.equal(['urla']);
  });

  it('asks the hook for what the claims do not grant: allow, read-only, deny, error, no answer; caches allows only', async function () {
    this.timeout(30_000);
    const c = await open(await token('hana', { channels: ['own'] }));
    await c.join('allow-room');
    await c.leave('allow-room');
    await c.join('allow-room');
    expect(hook.asked('allow-room', 'hana'), 'an allowed join is cached').to.equal(1);
    expect(hook.requests.find((r) => r.channel === 'allow-room')).to.deep.equal({ user: 'hana', channel: 'allow-room', action: 'join' });
    await c.send('allow-room', 'hello', 'h1');

    await c.join('read-only-room');
    const ro = await refusal(c.send('read-only-room', 'nope', 'h2'));
    expect(ro?.frame).to.include({ code: 'forbidden', ref: 'h2' });
    expect(hook.requests.filter((r) => r.channel === 'read-only-room').map((r) => r.action)).to.deep.equal(['join', 'write']);

    for (const channel of ['deny-room', 'error-room']) {
      expect((await refusal(c.join(channel)))?.frame?.code, channel).to.equal('forbidden');
      expect((await refusal(c.join(channel)))?.frame?.code, `${channel} again`).to.equal('forbidden');
      expect(hook.asked(channel), `a refusal is never cached: ${channel}`).to.equal(2);
    }
    const started = Date.now();
    const hung = await refusal(c.join('hang-room'));
    expect(hung?.frame?.code).to.equal('forbidden');
    expect(hung?.message).to.match(/hook did not answer/);
    expect(Date.now() - started, 'ms until a silent hook is given up').to.be.within(1800, 4000);
    expect(c.isOpen).to.equal(true);
    await c.presence('allow-room');
  });

  it('guards the HTTP reads: 401 without a valid bearer, 403 without permission, 200 with it or the server API key', async function () {
    const base = stack.push(0).httpUrl;
    const member = await open(await token('hugo', { channels: ['http-a'] }));
    await member.join('http-a');
    await member.send('http-a', 'for members', 'x1');
    await waitFor(async () => (await stack.redis.client().zcard('chat:ch:{http-a}:msgs')) === 1 || undefined, 'the message stored');
    const get = (path: string, bearer?: string): Promise<Response> =>
      fetch(`${base}${path}`, bearer ? { headers: { authorization: `Bearer ${bearer}` } } : {});
    const hugo = await token('hugo', { channels: ['http-a'] });
    const stranger = await token('stan', { channels: ['elsewhere'] });
    for (const path of ['/channels', '/channels/http-a/messages', '/channels/http-a/presence', '/metrics']) {
      const res = await get(path);
      expect(res.status, `${path} without a token`).to.equal(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).to.equal('unauthorized');
      expect((await get(path, 'not-a-token')).status, `${path} with a bad token`).to.equal(401);
      expect((await get(path, API_KEY)).status, `${path} with the server API key`).to.equal(200);
    }
    expect((await get('/channels/http-a/messages', stranger)).status).to.equal(403);
    expect((await get('/channels/http-a/presence', stranger)).status).to.equal(403);
    const ok = await get('/channels/http-a/messages', hugo);
    expect(ok.status).to.equal(200);
    expect(((await ok.json()) as { messages: { text: string }[] }).messages.map((m) => m.text)).to.deep.equal(['for members']);
    expect((await get('/metrics', hugo)).status, '/metrics takes only the server API key').to.equal(403);
    expect((await get('/health')).status).to.equal(200);
    expect((await get('/ready')).status).to.equal(200);
    // A user token lists only the channels it may read; the key lists all.
    const listed = async (bearer: string): Promise<string[]> =>
      ((await (await get('/channels', bearer)).json()) as { channels: { name: string }[] }).channels.map((c) => c.name);
    expect(await listed(hugo)).to.deep.equal(['http-a']);
    expect(await listed(stranger)).to.deep.equal([]);
    expect(await listed(API_KEY)).to.include.members(['http-a', 'team-1:x', 'announce']);
    // The expired token of a real user is 401 too.
    expect((await get('/channels/http-a/messages', await token('hugo', { channels: ['http-a'] }, -30))).status).to.equal(401);
  });

  it('refuses a forged, expired or unknown-algorithm token at the upgrade with 401', async function () {
    const url = `${stack.push(0).url}/ws`;
    const cases: Array<[string, RegExp]> = [
      [await mintToken('mal', 'another-secret-0123456789abc', 60), /signature/],
      [await token('mal', {}, -30), /expired/],
      ['eyJhbGciOiJub25lIn0.eyJzdWIiOiJtYWwifQ.', /algorithm none is not accepted/],
      ['not.a.jwt', /not valid/],
    ];
    for (const [jwt, reason] of cases) {
      const o = await tryConnect(`${url}?token=${jwt}`);
      expect(o.opened).to.equal(false);
      if (!o.opened) {
        expect(o.status).to.equal(401);
        expect(o.body).to.match(reason);
      }
    }
  });

  it('closes with 4001 at exp; a refresh extends the connection; another sub or an older token is refused', async function () {
    this.timeout(20_000);
    const doomed = await open(await token('dora', {}, 2));
    const started = Date.now();
    const closed = await doomed.waitClosed();
    expect(closed.code).to.equal(4001);
    expect(Date.now() - started, 'ms until the 4001 close').to.be.within(500, 4000);

    const kept = await open(await token('kim', {}, 2));
    const refreshed = await kept.refresh(await token('kim', {}, 60));
    expect(refreshed.type).to.equal('refreshed');
    expect(refreshed.exp).to.be.within(Date.now() / 1000 + 50, Date.now() / 1000 + 70);
    const other = await refusal(kept.refresh(await token('mallory', {}, 120)));
    expect(other?.frame).to.include({ code: 'unauthorized' });
    expect(other?.message).to.match(/for mallory/);
    const older = await refusal(kept.refresh(await token('kim', {}, 30)));
    expect(older?.message).to.match(/does not expire later/);
    const forged = await refusal(kept.refresh(await mintToken('kim', 'another-secret-0123456789abc', 600)));
    expect(forged?.message).to.match(/signature/);
    await new Promise((r) => setTimeout(r, 3000)); // past the first token's exp: still open
    await kept.ping();
    expect(kept.isOpen).to.equal(true);
  });

  it('keeps a ChatClient with getToken connected past its first token\'s exp', async function () {
    this.timeout(20_000);
    let asked = 0;
    const c = await ChatClient.connect(stack.push(1).url, {
      token: await token('gina', {}, 3),
      getToken: async () => { asked++; return token('gina', {}, 3 + asked * 3); },
      socket: (u) => new WebSocket(u) as unknown as SocketLike,
    });
    clients.push(c);
    const refreshed: number[] = [];
    c.on('frame', (f) => { if (f.type === 'refreshed') refreshed.push(f.exp as number); });
    await new Promise((r) => setTimeout(r, 5000)); // past the first token's exp (3 s)
    await c.ping();
    expect(c.isOpen, 'still open after the first exp').to.equal(true);
    expect(asked, 'getToken calls').to.be.at.least(1);
    expect(refreshed.length, 'refreshed answers').to.equal(asked);
  });

  it('applies a refresh that narrows the claims: a channel no longer permitted is left with reason forbidden', async function () {
    const c = await open(await token('nora', { channels: ['keep', 'lose'] }, 60));
    await c.join('keep');
    await c.join('lose');
    const left: Array<{ channel: string; reason?: string }> = [];
    c.on('left', (l) => left.push(l));
    await c.refresh(await token('nora', { channels: ['keep'], channelsRead: [] }, 120));
    await waitFor(() => left.length === 1 || undefined, 'the left frame');
    expect(left).to.deep.equal([{ type: 'left', channel: 'lose', reason: 'forbidden' }]);
    expect((await c.presence('keep')).users).to.deep.equal(['nora']);
    expect((await refusal(c.presence('lose')))?.frame?.code).to.equal('not_joined');
    expect((await refusal(c.join('lose')))?.frame?.code).to.equal('forbidden');
  });

  it('mints tokens with channel claims with chat-producer token', async function () {
    const r = await runProducer(['token', '--user', 'cli', '--channels', 'team-9:*,general', '--channels-read', 'news', '--json'], { AUTH_SECRET: SECRET });
    expect(r.code, r.stderr).to.equal(0);
    const minted = JSON.parse(r.stdout) as { token: string; channels: string[]; channelsRead: string[] };
    expect(minted.channels).to.deep.equal(['team-9:*', 'general']);
    const c = await open(minted.token);
    await c.join('team-9:a');
    await c.join('news');
    expect((await refusal(c.send('news', 'x', 'n1')))?.frame?.code).to.equal('forbidden');
    const bad = await runProducer(['token', '--user', 'cli', '--channels', 'bad name'], { AUTH_SECRET: SECRET });
    expect(bad.code).to.not.equal(0);
    expect(bad.stderr.trim()).to.match(/^chat-producer: --channels "bad name" is not a channel pattern/);
  });
});

describe('authorization: RS256 and ES256 tokens from an identity provider\'s JWKS', function () {
  let stack: Stack;
  let idp: IdentityProvider;
  before(async function () {
    idp = await IdentityProvider.start();
    stack = await Stack.start({
      pushServers: 1, workers: 1,
      env: { AUTH_JWKS_URL: idp.url, AUTH_ISSUER: 'https://idp.example', AUTH_AUDIENCE: 'chat' },
    });
  });
  after(async function () {
    await stack?.stop();
    await idp?.close();
  });

  it('accepts RS256 and ES256 tokens with the right issuer and audience, refuses the rest, and follows a key rotation', async function () {
    this.timeout(60_000);
    const url = stack.push(0).url;
    const good = { issuer: 'https://idp.example', audience: 'chat' };
    for (const alg of ['RS256', 'ES256'] as const) {
      const c = await connect(url, await idp.sign(`user-${alg}`, { alg, ...good, claims: { channels: ['idp-*'] } }));
      expect(c.welcome.user).to.equal(`user-${alg}`);
      await c.join('idp-room');
      expect((await refusal(c.join('other')))?.frame?.code).to.equal('forbidden');
      await c.close();
    }
    const refused: Array<[string, RegExp]> = [
      [await idp.sign('x', { audience: 'chat' }), /iss/],
      [await idp.sign('x', { issuer: 'https://evil.example', audience: 'chat' }), /iss/],
      [await idp.sign('x', { issuer: 'https://idp.example', audience: 'other' }), /aud/],
      [await idp.sign('x', { ...good, ttl: -30 }), /expired/],
      // An HS256 token is never checked against a public key.
      [await mintToken('x', 'any-secret-at-all-0123456789', 60), /algorithm HS256 is not accepted/],
    ];
    for (const [jwt, reason] of refused) {
      const o = await tryConnect(`${url}/ws?token=${jwt}`);
      expect(o.opened ? 101 : o.status, String(reason)).to.equal(401);
      if (!o.opened) expect(o.body).to.match(reason);
    }
    expect(idp.fetches, 'the JWKS is fetched once and cached').to.equal(1);

    // Rotation: tokens signed with a new kid verify once the JWKS is fetched again, which
    // happens at most once every 30 s after the last fetch.
    await idp.rotate();
    const rotated = await idp.sign('rotated', { ...good });
    const accepted = await waitFor(async () => {
      const o = await tryConnect(`${url}/ws?token=${rotated}`);
      if (o.opened) { o.ws.close(); return true; }
      expect(o.status).to.equal(401);
      return undefined;
    }, 'a token with the new kid to be accepted', 45_000, 1000);
    expect(accepted).to.equal(true);
    expect(idp.fetches, 'fetched again for the unknown kid, not per request').to.equal(2);
  });

  it('refuses with 401 while the JWKS cannot be fetched, and logs that once', async function () {
    const down = await PushServerProcess.start({ ...stack.env, AUTH_JWKS_URL: 'http://127.0.0.1:1/jwks.json' });
    try {
      const jwt = await idp.sign('nobody', { issuer: 'https://idp.example', audience: 'chat' });
      for (let i = 0; i < 3; i++) {
        const o = await tryConnect(`${down.url}/ws?token=${jwt}`);
        expect(o.opened ? 101 : o.status).to.equal(401);
        if (!o.opened) expect(o.body).to.match(/cannot be fetched/);
      }
      expect(down.program.logs.filter((l) => /cannot fetch the identity provider/.test(String(l.msg))).length, 'log lines').to.equal(1);
    } finally {
      await down.program.kill();
    }
  });
});
