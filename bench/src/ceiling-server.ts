/**
 * The ceiling of the design: plain `ws` plus Redis pub/sub, with no queue and no storage. It
 * speaks the part of our protocol the load uses (welcome, join → an empty history, message →
 * publish, then ack), so the same client drives it. A message is published to the channel's
 * Redis channel and every server with members there delivers it; nothing is stored, numbered
 * or recoverable, and a message in flight when a server dies is gone. What ours costs beyond
 * this is the price of durability, per-channel order and resumption. Delivery is as cheap as
 * ours: each message is framed once for all members and written corked per tick.
 *
 * Run: node ceiling-server.js <port> <redis-url>; prints "listening <port>" when ready.
 */
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { Redis } from 'ioredis';
import { WebSocketServer, type WebSocket } from 'ws';
import { WireFrame } from '../../push-server/dist/wire-frame.js';

const port = Number(process.argv[2] ?? 0);
const redisUrl = process.argv[3] ?? 'redis://127.0.0.1:6379';
const pub = new Redis(redisUrl);
const sub = new Redis(redisUrl);
const serverId = randomUUID().slice(0, 8);

/** Local members per channel, and the subscription that delivers to them. */
const rooms = new Map<string, Set<WebSocket>>();
const subscribed = new Map<string, Promise<unknown>>();
const topic = (channel: string): string => `ceiling:${channel}`;

const corked = new Set<Socket>();
function write(ws: WebSocket, frame: WireFrame): void {
  const raw = (ws as unknown as { _socket?: Socket })._socket;
  if (!raw || ws.readyState !== 1) return;
  if (!corked.has(raw)) { corked.add(raw); raw.cork(); process.nextTick(() => { corked.delete(raw); raw.uncork(); }); }
  raw.write(frame.bytes);
}

sub.on('message', (redisChannel: string, payload: string) => {
  const members = rooms.get(redisChannel.slice('ceiling:'.length));
  if (!members) return;
  const frame = WireFrame.text(payload);
  for (const ws of members) write(ws, frame);
});

const http = createServer();
const wss = new WebSocketServer({ server: http, path: '/ws', perMessageDeflate: false });
let connections = 0;

wss.on('connection', (ws, req) => {
  const user = new URL(req.url ?? '/', 'http://x').searchParams.get('user') ?? 'guest';
  const joined = new Set<string>();
  ws.send(JSON.stringify({ type: 'welcome', connectionId: `${serverId}-${++connections}`, serverId, user, historyLimit: 0, maxTextBytes: 4096 }));
  ws.on('message', (data) => {
    let frame: { type?: string; channel?: string; id?: string; text?: string };
    try { frame = JSON.parse(String(data)) as typeof frame; } catch { return; }
    const channel = frame.channel;
    if (typeof channel !== 'string') return;
    if (frame.type === 'join') {
      let members = rooms.get(channel);
      if (!members) { members = new Set(); rooms.set(channel, members); subscribed.set(channel, sub.subscribe(topic(channel))); }
      members.add(ws);
      joined.add(channel);
      const answer = JSON.stringify({ type: 'history', channel, messages: [], seq: 0, complete: true, read: 0, unread: 0 });
      // The history goes once the server is subscribed: from then on every message reaches the member.
      subscribed.get(channel)?.then(() => ws.send(answer), () => ws.close(1011));
    } else if (frame.type === 'message' && joined.has(channel) && typeof frame.text === 'string') {
      const out = JSON.stringify({ type: 'message', channel, id: frame.id, author: user, text: frame.text, timestamp: Date.now() });
      pub.publish(topic(channel), out).then(
        () => ws.send(`{"type":"ack","id":${JSON.stringify(frame.id)},"channel":${JSON.stringify(channel)}}`),
        () => ws.send(JSON.stringify({ type: 'error', code: 'internal', message: 'publish failed', ref: frame.id, channel })),
      );
    }
  });
  ws.on('close', () => {
    for (const channel of joined) {
      const members = rooms.get(channel);
      members?.delete(ws);
      if (members && members.size === 0) { rooms.delete(channel); subscribed.delete(channel); void sub.unsubscribe(topic(channel)); }
    }
  });
});

http.listen(port, '127.0.0.1', () => {
  const address = http.address();
  console.log(`listening ${typeof address === 'object' && address ? address.port : port}`);
});
process.on('SIGTERM', () => { wss.close(); pub.disconnect(); sub.disconnect(); process.exit(0); });
