/**
 * Behind nginx (ops/nginx.conf, a private instance): with TRUST_PROXY set to nginx's address the
 * push servers count connections per real client address from X-Forwarded-For, so clients from
 * several addresses (127.0.0.2, .3, … are all loopback) are capped each on their own, a spoofed
 * header changes nothing, and messages flow through the proxy.
 */
import { expect } from 'chai';
import WebSocket from 'ws';
import { ChatClient, type SocketLike } from '@chat/shared';
import { Nginx } from '../helpers/nginx.js';
import { tryConnect } from '../helpers/raw-ws.js';
import { Stack, collect, waitForCount } from '../helpers/stack.js';

const CAP = 40;

/** Opens a raw WebSocket from `from` (a loopback address); resolves with it or its refusal. */
function openFrom(url: string, from: string, headers: Record<string, string> = {}): ReturnType<typeof tryConnect> {
  return tryConnect(url, headers, { localAddress: from });
}

describe('behind nginx: client addresses from X-Forwarded-For', function () {
  let stack: Stack;
  let nginx: Nginx;
  const sockets: WebSocket[] = [];
  before(async function () {
    stack = await Stack.start({ pushServers: 2, workers: 1, env: { TRUST_PROXY: '127.0.0.1', MAX_CONNECTIONS_PER_IP: String(CAP) } });
    nginx = await Nginx.start(stack.pushServers.map((p) => p.port));
  });
  after(async function () {
    for (const ws of sockets) ws.terminate();
    await nginx?.stop();
    await stack?.stop();
  });

  it('caps each client address on its own, not nginx\'s address, and ignores spoofed headers', async function () {
    this.timeout(60_000);
    const url = `${nginx.url}/ws`;
    // 3 addresses × 60 connections through one nginx: 180 from nginx's own address, but 30 per
    // client address on each push server, under the cap of 40.
    for (const from of ['127.0.0.2', '127.0.0.3', '127.0.0.4']) {
      for (let i = 0; i < 60; i++) {
        const o = await openFrom(url, from);
        expect(o.opened, `connection ${i} from ${from}: ${o.opened ? '' : `${o.status} ${o.body}`}`).to.equal(true);
        if (o.opened) sockets.push(o.ws);
      }
    }
    // One address past the cap: round robin gives each push server 50 attempts, 40 get in.
    let opened = 0;
    const refusals: string[] = [];
    for (let i = 0; i < 100; i++) {
      const o = await openFrom(url, '127.0.0.5');
      if (o.opened) { opened++; sockets.push(o.ws); } else refusals.push(`${o.status} ${o.body.trim()}`);
    }
    console.log(`      through nginx: 180 of 180 from three addresses, ${opened} of 100 from 127.0.0.5 (cap ${CAP} per push server)`);
    expect(opened, 'connections from 127.0.0.5 accepted').to.equal(2 * CAP);
    expect(refusals).to.have.length(100 - 2 * CAP);
    for (const r of refusals) expect(r).to.match(/^429 too many connections from 127\.0\.0\.5 /);
    // A client cannot borrow another address: nginx appends the real peer to what it sent ...
    const spoofed = await openFrom(url, '127.0.0.6', { 'X-Forwarded-For': '127.0.0.5' });
    expect(spoofed.opened, 'a spoofed X-Forwarded-For through nginx').to.equal(true);
    if (spoofed.opened) sockets.push(spoofed.ws);
    // ... and straight to a push server the header of an untrusted peer is ignored.
    const direct = await openFrom(`${stack.push(0).url}/ws`, '127.0.0.7', { 'X-Forwarded-For': '127.0.0.5' });
    expect(direct.opened, 'a spoofed X-Forwarded-For from an untrusted peer').to.equal(true);
    if (direct.opened) sockets.push(direct.ws);
  });

  it('carries messages and history through the proxy', async function () {
    const socket = (from: string) => (u: string): SocketLike => new WebSocket(u, { localAddress: from }) as unknown as SocketLike;
    const a = await ChatClient.connect(nginx.url, { user: 'via-a', socket: socket('127.0.0.8') });
    const b = await ChatClient.connect(nginx.url, { user: 'via-b', socket: socket('127.0.0.9') });
    expect(a.welcome.serverId, 'round robin spreads the two clients').to.not.equal(b.welcome.serverId);
    await a.join('proxied');
    await b.join('proxied');
    const got = collect(b, 'proxied');
    for (let i = 0; i < 10; i++) await a.send('proxied', `m${i}`, `p${i}`);
    await waitForCount(got, 10, 'the messages through nginx');
    expect(got.map((m) => m.seq)).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const res = await fetch(`${nginx.httpUrl}/channels/proxied/messages?limit=3`);
    expect(((await res.json()) as { messages: { text: string }[] }).messages.map((m) => m.text)).to.deep.equal(['m7', 'm8', 'm9']);
    await Promise.all([a.close(), b.close()]);
  });
});
