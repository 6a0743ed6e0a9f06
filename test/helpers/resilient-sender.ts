/**
 * A test client that behaves like a well-written chat client: when its push server closes the
 * connection it reconnects to another one, re-joins with `since`, and resends every message that
 * was not acknowledged, with the same id.
 */
import WebSocket from 'ws';
import { ChatClient, ChatError, type MessageFrame, type SocketLike } from '@chat/shared';

export class ResilientSender {
  readonly acked = new Set<string>();
  readonly received: MessageFrame[] = [];
  reconnects = 0;
  private client: ChatClient | undefined;
  private lastSeq = 0;

  constructor(private readonly urls: () => string[], readonly user: string, readonly channel: string) {}

  async connect(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      for (const url of this.urls()) {
        try {
          const client = await ChatClient.connect(url, { user: this.user, socket: (u) => new WebSocket(u) as unknown as SocketLike, timeoutMs: 3000 });
          client.on('message', (m) => {
            if (m.channel !== this.channel || m.seq <= this.lastSeq) return;
            this.lastSeq = m.seq;
            this.received.push(m);
          });
          const history = await client.join(this.channel, this.lastSeq === 0 ? undefined : this.lastSeq);
          for (const m of history.messages) {
            if (m.seq > this.lastSeq) { this.lastSeq = m.seq; this.received.push(m); }
          }
          // A first join (no since) starts the stream at the channel's current seq.
          this.lastSeq = Math.max(this.lastSeq, history.seq);
          this.client = client;
          return;
        } catch {
          // That server is draining or gone: try the next one.
        }
      }
      if (attempt > 100) throw new Error(`${this.user} could not reconnect`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Sends until acknowledged, reconnecting (and resending with the same id) as needed. */
  async send(text: string, id: string): Promise<void> {
    for (;;) {
      const client = this.client;
      if (!client || !client.isOpen) {
        this.reconnects++;
        await this.connect();
        continue;
      }
      try {
        await client.send(this.channel, text, id);
        this.acked.add(id);
        return;
      } catch (err) {
        if (!(err instanceof ChatError) || err.code !== 'closed') throw err;
      }
    }
  }

  async close(): Promise<void> {
    await this.client?.close();
  }
}
