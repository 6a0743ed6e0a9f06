/**
 * A test client that behaves like a well-written chat client: when its push server closes the
 * connection it reconnects to another one, re-joins with `since`, and resends every message that
 * was not acknowledged, with the same id.
 */
import WebSocket from 'ws';
import { ChatClient, ChatError, type MessageFrame, type SocketLike } from '@chat/shared';

export class ResilientSender {
  readonly acked = new Set<string>();
  /**
   * Every message frame of the channel as it arrived, from history and live, never filtered:
   * a duplicate delivery (the same seq twice) stays visible to the test.
   */
  readonly received: MessageFrame[] = [];
  reconnects = 0;
  /** Close codes of the connections this sender lost. */
  readonly closeCodes: number[] = [];
  private client: ChatClient | undefined;
  private lastSeq = 0;
  private closing = false;
  private readonly session = `s${Math.random().toString(36).slice(2, 12)}`;
  private reconnecting: Promise<void> | undefined;

  constructor(private readonly urls: () => string[], readonly user: string, readonly channel: string) {}

  async connect(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      for (const url of this.urls()) {
        try {
          const client = await ChatClient.connect(url, { user: this.user, session: this.session, socket: (u) => new WebSocket(u) as unknown as SocketLike, timeoutMs: 3000 });
          const take = (m: MessageFrame): void => {
            if (m.channel !== this.channel) return;
            this.lastSeq = Math.max(this.lastSeq, m.seq);
            this.received.push(m);
          };
          // History and live messages are handled in the events, in arrival order: the join()
          // promise settles later, possibly after live frames that arrived in the same chunk.
          client.on('history', (h) => {
            if (h.channel !== this.channel) return;
            for (const m of h.messages) take(m);
            // A first join (no since) starts the stream at the channel's current seq.
            this.lastSeq = Math.max(this.lastSeq, h.seq);
          });
          client.on('message', take);
          await client.join(this.channel, this.lastSeq === 0 ? undefined : this.lastSeq);
          this.client = client;
          // Like a real client: reconnect as soon as the server goes away, not only on the next send.
          client.on('close', (c) => { if (this.closing) return; this.closeCodes.push(c.code); void this.reconnect(); });
          return;
        } catch {
          // That server is draining or gone: try the next one.
        }
      }
      if (attempt > 100) throw new Error(`${this.user} could not reconnect`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private reconnect(): Promise<void> {
    this.reconnecting ??= (async () => {
      this.reconnects++;
      await this.connect();
    })().finally(() => { this.reconnecting = undefined; });
    return this.reconnecting;
  }

  /** Sends until acknowledged, reconnecting (and resending with the same id) as needed. */
  async send(text: string, id: string): Promise<void> {
    for (;;) {
      const client = this.client;
      if (!client || !client.isOpen) {
        await this.reconnect();
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

  /** A round trip on the current connection: whatever the server wrote before it has arrived. */
  async barrier(): Promise<void> {
    await this.client?.ping();
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.reconnecting;
    await this.client?.close();
  }
}
