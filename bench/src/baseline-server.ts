/**
 * The Socket.IO peers: what a user would build instead. A Socket.IO server with either
 * `@socket.io/redis-adapter` (pub/sub) or `@socket.io/redis-streams-adapter` with connection
 * state recovery (the peer that can give a reconnecting client what it missed), storing each
 * message inline before broadcasting it: INCR the channel's sequence, ZADD the message with its
 * seq as score, trim the set, then emit to the channel's room on every server through the
 * adapter and acknowledge. Joining sends the last 10. Same semantics as ours otherwise:
 * persisted, numbered per channel by seq, history of 10, 24 h expiry.
 *
 * Run: node baseline-server.js <port> <redis-url> [redis|streams]; prints "listening <port>" when ready.
 */
import { createServer } from 'node:http';
import { createAdapter as createPubSubAdapter } from '@socket.io/redis-adapter';
import { createAdapter as createStreamsAdapter } from '@socket.io/redis-streams-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';

const HISTORY = 10;
const KEEP = 10_000;
const TTL_SECONDS = 24 * 3600;

const port = Number(process.argv[2] ?? 0);
const redisUrl = process.argv[3] ?? 'redis://127.0.0.1:6379';
const adapter = process.argv[4] ?? 'redis';
const redis = new Redis(redisUrl);
const pub = new Redis(redisUrl);
const sub = pub.duplicate();

const http = createServer();
const io = new Server(http, {
  transports: ['websocket'], serveClient: false, perMessageDeflate: false,
  // The streams peer keeps each client's session and missed packets for 2 minutes (Socket.IO's default).
  ...(adapter === 'streams' ? { connectionStateRecovery: { maxDisconnectionDuration: 2 * 60_000, skipMiddlewares: true } } : {}),
});
// The streams adapter reads one shared stream; `onlyPlaintext` skips its binary checks (JSON only here).
io.adapter(adapter === 'streams' ? createStreamsAdapter(pub, { onlyPlaintext: true }) : createPubSubAdapter(pub, sub));

interface SendPayload { channel: string; id: string; text: string }

io.on('connection', (socket) => {
  const user = String(socket.handshake.query['user'] ?? 'guest');
  socket.on('join', async (channel: string, ack: (history: unknown[]) => void) => {
    if (typeof channel !== 'string' || typeof ack !== 'function') return;
    await socket.join(channel);
    const stored = await redis.zrange(`bl:${channel}:msgs`, String(-HISTORY), "-1");
    ack(stored.map((s) => JSON.parse(s) as unknown));
  });
  socket.on('send', async (m: SendPayload, ack: (reply: { error?: string }) => void) => {
    if (typeof ack !== 'function') return;
    if (!m || typeof m.channel !== 'string' || typeof m.text !== 'string' || !socket.rooms.has(m.channel)) {
      ack({ error: 'invalid' });
      return;
    }
    try {
      const msgs = `bl:${m.channel}:msgs`;
      const seq = await redis.incr(`bl:${m.channel}:seq`);
      const frame = { channel: m.channel, id: m.id, author: user, text: m.text, timestamp: Date.now(), seq };
      await redis.multi()
        .zadd(msgs, seq, JSON.stringify(frame))
        .zremrangebyrank(msgs, 0, -KEEP - 1)
        .expire(msgs, TTL_SECONDS)
        .expire(`bl:${m.channel}:seq`, TTL_SECONDS)
        .exec();
      io.to(m.channel).emit('message', frame);
      ack({});
    } catch {
      ack({ error: 'internal' });
    }
  });
});

http.listen(port, '127.0.0.1', () => {
  const address = http.address();
  console.log(`listening ${typeof address === 'object' && address ? address.port : port}`);
});
process.on('SIGTERM', () => { void io.close(); redis.disconnect(); pub.disconnect(); sub.disconnect(); process.exit(0); });
