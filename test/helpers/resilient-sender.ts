/**
 * A test client that behaves like a well-written chat client: when its push server closes the
 * connection it reconnects (to the next URL, with exponential backoff and jitter), re-joins with
 * `since`, and resends every message that was not acknowledged, with the same id; a send answered
 * `overloaded` is retried the same way.
 */
import WebSocket from 'ws';
import { backoffDelay } from '@chat/client';
import { ChatClient, ChatError, ErrorCode, type ChannelEvent, type SocketLike } from '@chat/shared';

export interface ResilientOptions {
  /** Connect from this loopback address (127.0.0.2, …) to act as a different client address. */
  localAddress?: string;
  /** Give up reconnecting after this long without a connection (default 60 s). */
  giveUpMs?: number;
}

/** The client library's reconnect delays: 50 ms doubling to 2 s, each wait a random 50–100 % of it. */
const BACKOFF = { initialMs: 50, maxMs: 2000, jitter: 0.5 };

export class ResilientSender {
  readonly acked = new Set<string>();
  /**
   * Every message frame of the channel as it arrived, from history and live, never filtered:
   * a duplicate delivery (the same seq twice) stays visible to the test.
   */
  readonly received: ChannelEvent[] = [];
  reconnects = 0;
  /** When the last (re)connect completed: joined, history in. */
  connectedAt = 0;
  /** The push server of the current connection (from its welcome). */
  serverId = '';
  /** Connection attempts that failed (refused, timed out, closed before the join completed). */
  failedAttempts = 0;
  /** Why the last failed attempt failed. */
  lastError = '';
  /** Close codes of the connections this sender lost. */
  readonly closeCodes: number[] = [];
  private client: ChatClient | undefined;
  private lastSeq = 0;
  private closing = false;
  private readonly session = `s${Math.random().toString(36).slice(2, 12)}`;
  private reconnecting: Promise<void> | undefined;

  constructor(private readonly urls: () => string[], readonly user: string, readonly channel: string, private readonly options: ResilientOptions = {}) {}

  async connect(): Promise<void> {
    const giveUpAt = Date.now() + (this.options.giveUpMs ?? 60_000);
    const socket = (u: string): SocketLike => new WebSocket(u, { localAddress: this.options.localAddress }) as unknown as SocketLike;
    for (let attempt = 0; ; attempt++) {
      for (const url of this.urls()) {
        try {
          const client = await ChatClient.connect(url, { user: this.user, session: this.session, socket, timeoutMs: 3000 });
          const take = (m: ChannelEvent): void => {
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
          client.on('update', take);
          try {
            await client.join(this.channel, this.lastSeq === 0 ? undefined : this.lastSeq);
          } catch (err) {
            void client.close();
            throw err;
          }
          this.client = client;
          this.connectedAt = Date.now();
          this.serverId = client.welcome.serverId;
          // Like a real client: reconnect as soon as the server goes away, not only on the next send.
          client.on('close', (c) => { if (this.closing) return; this.closeCodes.push(c.code); void this.reconnect(); });
          return;
        } catch (err) {
          // That server is draining or gone: try the next one.
          this.failedAttempts++;
          this.lastError = (err as Error).message;
        }
      }
      if (Date.now() > giveUpAt) throw new Error(`${this.user} could not reconnect within ${this.options.giveUpMs ?? 60_000} ms`);
      await new Promise((r) => setTimeout(r, backoffDelay(attempt, BACKOFF)));
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
    for (let busy = 0; ; ) {
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
        if (err instanceof ChatError && err.code === ErrorCode.Overloaded) {
          await new Promise((r) => setTimeout(r, backoffDelay(busy++, BACKOFF)));
          continue;
        }
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
