/**
 * One user in one channel, kept alive across dropped connections: reconnects with backoff to the
 * same server or the next one in the list, re-joins with `since` so nothing is missed or shown
 * twice, and resends messages that were not acknowledged, with the same id. No DOM here: the page
 * renders what the callbacks report.
 */
import { ChatClient, ChatError } from '@chat/shared/client';
import type { ErrorFrame, MessageFrame, PresenceFrame } from '@chat/shared/protocol';

export type SessionState = 'connecting' | 'connected' | 'reconnecting' | 'stopped';

export interface SessionEvents {
  state(state: SessionState, detail: string): void;
  /** A stored message, in seq order, each exactly once. */
  message(m: MessageFrame): void;
  /** Older messages than those shown are gone (trimmed) or were cut. */
  gap(): void;
  presence(users: string[]): void;
  /** A message the server refused or could not take (rate limited, too large, …). */
  rejected(id: string | undefined, error: ErrorFrame): void;
  /** The session cannot go on (e.g. the name is taken); it stopped. */
  fatal(error: ErrorFrame): void;
}

export interface SessionOptions {
  user: string;
  channel: string;
  /** Push server base URLs to try, in order (the first is this page's own server). */
  servers: string[];
  /** A token when the servers require authentication (else a `token` cookie may do). */
  token?: string;
  /**
   * Fetches a newer token from the application: used before each expiry (`refresh`) and for a
   * reconnect after the token expired (close 4001).
   */
  getToken?: () => Promise<string>;
}

export class ChatSession {
  private client: ChatClient | undefined;
  private lastSeq = 0;
  private joinedOnce = false;
  private attempt = 0;
  private serverIndex = 0;
  private stopped = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly pending = new Map<string, string>();
  private readonly presence = new Set<string>();
  private nextId = 0;
  private readonly idPrefix = Math.random().toString(36).slice(2, 10);
  /** Sent on every (re)connect so this session can take its name back at once. */
  private readonly session = Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, '0')).join('');
  /** The newest token: the page's, then each one `getToken` brought. */
  private token: string | undefined;

  constructor(private readonly options: SessionOptions, private readonly on: SessionEvents) {
    this.token = options.token;
  }

  /** Asks the application for a newer token and keeps it for the next reconnect. */
  private readonly fetchToken = async (): Promise<string> => {
    const token = await (this.options.getToken as () => Promise<string>)();
    this.token = token;
    return token;
  };

  get connected(): boolean {
    return this.client?.isOpen ?? false;
  }

  start(): void {
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    void this.client?.close();
    this.on.state('stopped', 'left');
  }

  /** Sends a message; it is resent after a reconnect until acknowledged. Returns its id. */
  send(text: string): string {
    const id = `${this.idPrefix}-${++this.nextId}`;
    this.pending.set(id, text);
    if (this.connected) this.transmit(id, text);
    return id;
  }

  private transmit(id: string, text: string): void {
    const client = this.client;
    if (!client) return;
    client.send(this.options.channel, text, id).then(
      () => { this.pending.delete(id); },
      (err: unknown) => {
        // A closed connection keeps the message pending: it is resent after the reconnect.
        if (err instanceof ChatError && err.code === 'closed') return;
        this.pending.delete(id);
        if (err instanceof ChatError && err.frame) this.on.rejected(id, err.frame);
      },
    );
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    this.on.state(this.joinedOnce ? 'reconnecting' : 'connecting',
      this.joinedOnce ? 'connection lost: reconnecting' : 'connecting');
    const servers = this.options.servers;
    for (let i = 0; i < servers.length && !this.stopped; i++) {
      const url = servers[(this.serverIndex + i) % servers.length] as string;
      let client: ChatClient;
      try {
        client = await ChatClient.connect(url, {
          user: this.options.user, session: this.session, timeoutMs: 5000,
          ...(this.token ? { token: this.token } : {}),
          ...(this.options.getToken ? { getToken: this.fetchToken } : {}),
        });
      } catch {
        continue;
      }
      if (this.stopped) { void client.close(); return; }
      this.serverIndex = (this.serverIndex + i) % servers.length;
      this.wire(client);
      this.client = client;
      client.join(this.options.channel, this.joinedOnce ? this.lastSeq : undefined).then(() => {
        this.attempt = 0;
        this.joinedOnce = true;
        this.on.state('connected', `connected to ${client.welcome.serverId}`);
        for (const [id, text] of this.pending) this.transmit(id, text);
      }, (err: unknown) => {
        if (err instanceof ChatError && err.frame?.code === 'name_taken') {
          this.stopped = true;
          void client.close();
          this.on.fatal(err.frame);
        }
      });
      return;
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    const delay = Math.min(10_000, 250 * 2 ** this.attempt) * (0.75 + Math.random() * 0.5);
    this.attempt++;
    this.on.state(this.joinedOnce ? 'reconnecting' : 'connecting', `no server answered: retrying in ${(delay / 1000).toFixed(1)} s`);
    this.timer = setTimeout(() => { void this.connect(); }, delay);
  }

  private wire(client: ChatClient): void {
    const channel = this.options.channel;
    // Handled in the events, which fire in arrival order (see ChatClient).
    client.on('history', (h) => {
      if (h.channel !== channel) return;
      const first = !this.joinedOnce;
      // Updates (with since) only move the stream on here; the page shows messages (issue 17 shows updates).
      for (const m of h.messages) if (m.type === 'message') this.accept(m); else this.lastSeq = Math.max(this.lastSeq, m.seq);
      if (!h.complete && (!first || h.messages.length > 0)) this.on.gap();
      this.lastSeq = Math.max(this.lastSeq, h.seq);
    });
    client.on('message', (m) => { if (m.channel === channel) this.accept(m); });
    client.on('update', (u) => { if (u.channel === channel) this.lastSeq = Math.max(this.lastSeq, u.seq); });
    client.on('presence', (p) => { if (p.channel === channel) this.applyPresence(p); });
    client.on('error', (e) => {
      if (e.code === 'name_taken' || e.ref !== undefined) return; // handled by the request's promise
      this.on.rejected(undefined, e);
    });
    client.on('close', (ev) => {
      if (this.client !== client || this.stopped) return;
      this.client = undefined;
      // The token expired: reconnect with a new one when the application can give one.
      if (ev.code === 4001 && this.options.getToken) {
        this.fetchToken().then(() => this.schedule(), () => this.schedule());
        return;
      }
      // Try the same server once more first, then the others.
      this.schedule();
    });
  }

  private accept(m: MessageFrame): void {
    if (m.seq <= this.lastSeq) return;
    this.lastSeq = m.seq;
    this.pending.delete(m.id);
    this.on.message(m);
  }

  private applyPresence(p: PresenceFrame): void {
    if (p.users) {
      this.presence.clear();
      for (const u of p.users) this.presence.add(u);
    }
    for (const u of p.joined ?? []) this.presence.add(u);
    for (const u of p.left ?? []) this.presence.delete(u);
    this.on.presence([...this.presence].sort((a, b) => a.localeCompare(b)));
  }
}
