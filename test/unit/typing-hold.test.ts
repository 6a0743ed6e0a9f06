/**
 * Typing notices ride along with a member's next write (push-server/src/typing-hold.ts): checked
 * on a real connection over a loopback socket, where one write arrives as one chunk.
 */
import { expect } from 'chai';
import type { AddressInfo, Socket } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { ChannelGrants } from '@chat/shared';
import { ClientConnection, PushMetrics, TypingHold, WireFrame, type ConnectionDeps } from '@chat/push-server';
import { waitFor } from '../helpers/wait.js';

/** The server side of a real WebSocket, wrapped in a ClientConnection; and the chunks its client reads. */
async function connection(hold: TypingHold): Promise<{ conn: ClientConnection; chunks: string[]; metrics: PushMetrics; close(): void }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  const accepted = new Promise<WebSocket>((resolve) => wss.once('connection', resolve));
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  await new Promise<void>((resolve, reject) => { client.once('open', resolve); client.once('error', reject); });
  const chunks: string[] = [];
  // Each chunk the client's socket reads: frames written in one system call arrive together on loopback.
  (client as unknown as { _socket: Socket })._socket.on('data', (d: Buffer) => chunks.push(d.toString('latin1')));
  const metrics = new PushMetrics(() => 1, () => 0);
  const deps = {
    rateLimit: 10, rateBurst: 10, maxSendBufferBytes: 4 * 1024 * 1024, metrics, typingHold: hold, closed: () => undefined,
  } as unknown as ConnectionDeps; // the parts a delivery uses: no frame is read here
  const conn = new ClientConnection('c1', { user: 'member', exp: undefined, grants: ChannelGrants.unrestricted }, 's1', await accepted, deps);
  return { conn, chunks, metrics, close: () => { client.terminate(); wss.close(); } };
}

const typingFrame = WireFrame.text('{"type":"typing","channel":"g","user":"typist"}');
const messageFrame = WireFrame.text('{"type":"message","channel":"g","seq":7,"id":"m7","author":"typist","text":"hi","timestamp":1}');

describe('typing notices share a member\'s next write', function () {
  it('writes a held notice in the same write as the next delivery, once', async function () {
    const hold = new TypingHold(60_000); // never ends by itself within the test
    const { conn, chunks, metrics, close } = await connection(hold);
    try {
      conn.sendShared(typingFrame, 'typing');
      await new Promise((r) => setImmediate(r)); // a later turn of the loop: nothing is corked now
      expect(hold.size, 'held, waiting for a write').to.equal(1);
      conn.sendMessage(messageFrame);
      await waitFor(() => chunks.join('').includes('"seq":7') || undefined, 'the delivery');
      const both = chunks.find((c) => c.includes('"seq":7')) as string;
      expect(both, 'the notice in the same chunk, ahead of the message').to.include('"type":"typing"');
      expect(both.indexOf('"type":"typing"')).to.be.below(both.indexOf('"type":"message"'));
      expect(hold.size, 'released by the write').to.equal(0);
      hold.stop(); // a writer released before the hold ended writes nothing more
      conn.sendMessage(messageFrame);
      await waitFor(() => chunks.join('').split('"seq":7').length === 3 || undefined, 'the second delivery');
      expect(chunks.join('').split('"type":"typing"').length - 1, 'the notice written once').to.equal(1);
      expect((await metrics.registry.getSingleMetricAsString('chat_frames_out_total'))).to.match(/type="typing"} 1\b/);
    } finally {
      close();
    }
  });

  it('writes held notices together, alone, when the hold ends without a delivery', async function () {
    const hold = new TypingHold(30);
    const { conn, chunks, close } = await connection(hold);
    try {
      conn.sendShared(typingFrame, 'typing');
      await new Promise((r) => setImmediate(r));
      conn.sendShared(WireFrame.text('{"type":"typing","channel":"g","user":"second"}'), 'typing');
      expect(chunks, 'nothing written yet').to.deep.equal([]);
      await waitFor(() => chunks.length > 0 || undefined, 'the held notices');
      expect(chunks).to.have.length(1);
      expect(chunks[0]).to.include('"user":"typist"').and.to.include('"user":"second"');
      expect(hold.size).to.equal(0);
    } finally {
      close();
    }
  });

  it('writes a notice at once when a write is already going out in the same turn', async function () {
    const hold = new TypingHold(60_000);
    const { conn, chunks, close } = await connection(hold);
    try {
      conn.sendMessage(messageFrame);
      conn.sendShared(typingFrame, 'typing');
      expect(hold.size, 'not held: it joins the corked write').to.equal(0);
      await waitFor(() => chunks.join('').includes('"type":"typing"') || undefined, 'the notice');
      expect(chunks.find((c) => c.includes('"type":"typing"'))).to.include('"seq":7');
    } finally {
      close();
    }
  });
});
