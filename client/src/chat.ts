/**
 * `Chat`: one logical connection to the chat, kept alive across dropped sockets, with any number
 * of joined channels. On a drop it reconnects (full-jitter exponential backoff, the same server
 * first, then the others), re-joins every channel with `since` its last seq, and resends every
 * frame that was not acknowledged, with its id, so nothing is lost or doubled. It follows the
 * close codes: 1001 and 1013 move to another server at once, 1008 backs off hard, 4001 asks
 * `getToken` for a new token, 4003 stops. While disconnected, sends wait in a bounded queue.
 *
 * Transport: the shared protocol client (`@chat/shared/client`), which has no Node-only code;
 * on Node pass `socket: (url) => new WebSocket(url)` from `ws`.
 */
import { ChatClient, ChatError, tokenExpiry, type SocketFactory } from '@chat/shared/client';
import type {
  AckFrame, ChannelEvent, ErrorFrame, HistoryFrame, MessageFrame, PageFrame, UpdateFrame, UpdateRequestFrame,
} from '@chat/shared/protocol';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { ChannelModel, type ChangeKind } from './channel-model.js';

export type ChatState = 'connecting' | 'connected' | 'reconnecting' | 'disconnected';

export interface ChatOptions {
  /** Push servers to use, tried in order after a drop from the current one. */
  urls: string[];
  /** The user name (authentication off). With authentication on, `getToken` gives the name. */
  user?: string;
  /** A token for each connect, and before `exp` (`refresh`), and after a 4001 close. */
  getToken?: () => Promise<string>;
  /** Creates the WebSocket (default: the global WebSocket; on Node pass `ws`). */
  socket?: SocketFactory;
  backoff?: BackoffOptions;
  /** Sends kept while disconnected; past this, a send is refused with `offline_queue_full`. Default 1000. */
  offlineQueueLimit?: number;
  /** How long a connect may take before it counts as failed (ms). Default 10 000. */
  connectTimeoutMs?: number;
  /** The wait after a 1008 (flooding) close before connecting again (ms). Default 30 000. */
  policyBackoffMs?: number;
}

export interface StateChange { state: ChatState; previous: ChatState; reason: string }

/** A frame that changes a channel, kept until the server acknowledges it (or refuses it). */
interface Pending {
  id: string;
  frame: Record<string, unknown> & { channel: string };
  /** The connection it was last sent on (sent again only on another one, or when retried). */
  sentOn?: ChatClient;
  resolve(ack: AckFrame): void;
  reject(err: ChatError): void;
}

type ChatEvents = { state: StateChange; error: ErrorFrame };
type ChannelEvents = { change: ChangeKind[]; message: MessageFrame; update: UpdateFrame; error: ErrorFrame };

class Emitter<E> {
  private readonly listeners = new Map<keyof E, Set<(v: never) => void>>();
  on<K extends keyof E>(event: K, fn: (v: E[K]) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) { set = new Set(); this.listeners.set(event, set); }
    set.add(fn as (v: never) => void);
    return () => { set.delete(fn as (v: never) => void); };
  }
  protected emit<K extends keyof E>(event: K, value: E[K]): void {
    for (const fn of [...(this.listeners.get(event) ?? [])]) (fn as (v: E[K]) => void)(value);
  }
}

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;
/** A frame that changes a channel, before its id is set. */
type ChangeFrame = WithoutId<UpdateRequestFrame> | { type: 'message'; channel: string; text: string };

/** Errors after which a frame is retried later with the same id rather than given up. */
const RETRYABLE = new Set(['overloaded', 'rate_limited', 'internal']);

let idCounter = 0;
const idPrefix = Math.random().toString(36).slice(2, 10);
const newId = (): string => `${idPrefix}-${++idCounter}`;

export class Chat extends Emitter<ChatEvents> {
  state: ChatState = 'disconnected';
  private client: ChatClient | undefined;
  private readonly channels = new Map<string, Channel>();
  private readonly pending = new Map<string, Pending>();
  private attempt = 0;
  private urlIndex = 0;
  private stopped = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private token: string | undefined;
  private readonly session = `s${Math.random().toString(36).slice(2, 14)}`;
  /** The user name the server gave this connection, and the push server (from `welcome`). */
  user: string | undefined;
  serverId: string | undefined;

  constructor(readonly options: ChatOptions) {
    super();
    if (options.urls.length === 0) throw new Error('Chat needs at least one push server URL');
  }

  /** Connects (and keeps connecting); resolves once connected the first time. */
  connect(): Promise<void> {
    this.stopped = false;
    if (this.state === 'connected') return Promise.resolve();
    const connected = new Promise<void>((resolve, reject) => {
      const off = this.on('state', (s) => {
        if (s.state === 'connected') { off(); resolve(); }
        if (s.state === 'disconnected') { off(); reject(new ChatError('disconnected', s.reason)); }
      });
    });
    if (this.state === 'disconnected') { this.setState('connecting', 'connect()'); void this.open(); }
    return connected;
  }

  /** The channel's handle (created on first use); `join()` it to receive. */
  channel(name: string): Channel {
    let ch = this.channels.get(name);
    if (!ch) {
      ch = new Channel(this, name);
      this.channels.set(name, ch);
    }
    return ch;
  }

  /** Closes for good: pending sends are refused with `closed`. */
  async close(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const client = this.client;
    this.client = undefined;
    this.failPending(new ChatError('closed', 'the chat was closed'));
    if (client) await client.close().catch(() => undefined);
    this.setState('disconnected', 'close()');
  }

  // ------------------------------------------------------------------ internals used by Channel

  /** The connected transport, if any. */
  get transport(): ChatClient | undefined {
    return this.client?.isOpen ? this.client : undefined;
  }

  /** Sends a frame that changes a channel: resolves on its ack; kept and resent across reconnects. */
  change(frame: ChangeFrame, id = newId()): Promise<AckFrame> {
    return new Promise<AckFrame>((resolve, reject) => {
      if (this.stopped) { reject(new ChatError('closed', 'the chat was closed')); return; }
      const limit = this.options.offlineQueueLimit ?? 1000;
      if (!this.transport && this.pending.size >= limit) {
        reject(new ChatError('offline_queue_full', `${limit} sends are already waiting for the connection`));
        return;
      }
      const p: Pending = { id, frame: { ...frame, id }, resolve, reject };
      this.pending.set(id, p);
      this.transmit(p);
    });
  }

  /** Sends a pending frame on the current connection unless it already went there (`again`: a retry). */
  private transmit(p: Pending, again = false): void {
    const client = this.transport;
    if (!client || !this.channels.get(p.frame.channel)?.ready) return; // sent once the channel is (re)joined
    if (p.sentOn === client && !again) return;
    p.sentOn = client;
    client.sendRaw(JSON.stringify(p.frame));
  }

  /** The channel is joined on this connection: what waits for it goes out, in the order it was sent. */
  channelReady(channel: string): void {
    for (const p of this.pending.values()) if (p.frame.channel === channel) this.transmit(p);
  }

  private setState(state: ChatState, reason: string): void {
    if (state === this.state) return;
    const previous = this.state;
    this.state = state;
    this.emit('state', { state, previous, reason });
  }

  private async open(): Promise<void> {
    if (this.stopped) return;
    const url = this.options.urls[this.urlIndex % this.options.urls.length] as string;
    try {
      if (this.options.getToken && (this.token === undefined || this.expired(this.token))) this.token = await this.options.getToken();
      const client = await ChatClient.connect(url, {
        ...(this.token !== undefined ? { token: this.token } : {}), ...(this.options.user !== undefined ? { user: this.options.user } : {}),
        session: this.session, socket: this.options.socket, timeoutMs: this.options.connectTimeoutMs ?? 10_000,
        ...(this.options.getToken ? { getToken: async () => { this.token = await this.options.getToken!(); return this.token; } } : {}),
      });
      if (this.stopped) { void client.close(); return; }
      this.client = client;
      this.user = client.welcome.user;
      this.serverId = client.welcome.serverId;
      this.attempt = 0;
      this.wire(client);
      this.setState('connected', `connected to ${url}`);
      await this.resume(client);
    } catch (err) {
      this.scheduleReconnect(`could not connect to ${url}: ${(err as Error).message}`, 'next');
    }
  }

  private expired(token: string): boolean {
    const exp = tokenExpiry(token);
    return exp !== undefined && exp * 1000 <= Date.now() + 1000;
  }

  /** Re-joins every joined channel with `since`; each resends what it had unacknowledged once its history is in. */
  private async resume(client: ChatClient): Promise<void> {
    await Promise.all([...this.channels.values()].filter((c) => c.wanted).map((c) => c.rejoin(client).catch(() => undefined)));
  }

  private wire(client: ChatClient): void {
    const route = <F extends { channel: string }>(f: F, fn: (c: Channel, f: F) => void): void => {
      const ch = this.channels.get(f.channel);
      if (ch) fn(ch, f);
    };
    client.on('history', (h) => route(h, (c, f) => c.onHistory(f)));
    client.on('message', (m) => route(m, (c, f) => c.onLive(f)));
    client.on('update', (u) => route(u, (c, f) => c.onLive(f)));
    client.on('presence', (p) => route(p, (c, f) => c.onModel(c.model.presenceFrame(f))));
    client.on('typing', (t) => route(t, (c, f) => c.onTyping(f.user)));
    client.on('receipts', (r) => route(r, (c, f) => c.onModel(c.model.receiptsFrame(f))));
    client.on('left', (l) => route(l, (c) => c.onLeft(l.reason)));
    client.on('frame', (f) => {
      if (f.type === 'ack') this.acked(f);
      if (f.type === 'error') this.errored(f);
    });
    client.on('close', (ev) => this.closed(client, ev.code, ev.reason));
  }

  private acked(ack: AckFrame): void {
    const p = this.pending.get(ack.id);
    if (!p) return;
    this.pending.delete(ack.id);
    p.resolve(ack);
  }

  private errored(e: ErrorFrame): void {
    const p = e.ref !== undefined ? this.pending.get(e.ref) : undefined;
    if (p) {
      if (RETRYABLE.has(e.code)) {
        // Sent again with the same id after a pause: stored once whatever happened to the first.
        // The channel hears of it (a UI may say "sending too fast"); the send stays pending.
        this.channels.get(p.frame.channel)?.onError(e);
        const retryIn = backoffDelay(2, this.options.backoff);
        setTimeout(() => { if (this.pending.get(p.id) === p) this.transmit(p, true); }, Math.max(200, retryIn));
        return;
      }
      this.pending.delete(p.id);
      p.reject(new ChatError(e.code, e.message, e));
      return;
    }
    if (e.channel !== undefined && this.channels.has(e.channel)) this.channels.get(e.channel)?.onError(e);
    else this.emit('error', e);
  }

  private closed(client: ChatClient, code: number, reason: string): void {
    if (this.client !== client) return;
    this.client = undefined;
    for (const c of this.channels.values()) c.ready = false;
    if (this.stopped) return;
    switch (code) {
      case 4003:
        this.stopped = true;
        this.failPending(new ChatError('disconnected', `disconnected by the application (4003)${reason ? `: ${reason}` : ''}`));
        this.setState('disconnected', `the server disconnected this user (4003)${reason ? `: ${reason}` : ''}`);
        return;
      case 4001:
        this.token = undefined; // a new one from getToken
        this.scheduleReconnect('the token expired (4001)', 'same', 0);
        return;
      case 1008:
        this.scheduleReconnect(`closed for flooding (1008)${reason ? `: ${reason}` : ''}`, 'same', this.options.policyBackoffMs ?? 30_000);
        return;
      case 1001:
      case 1013:
        this.scheduleReconnect(`the server asked to move (${code})${reason ? `: ${reason}` : ''}`, 'next', 0);
        return;
      default:
        // The same server once more first (a blip), then the others.
        this.scheduleReconnect(`connection lost (${code})${reason ? `: ${reason}` : ''}`, this.attempt === 0 ? 'same' : 'next');
    }
  }

  private scheduleReconnect(reason: string, where: 'same' | 'next', delayMs?: number): void {
    if (this.stopped) return;
    if (where === 'next') this.urlIndex++;
    const delay = delayMs ?? backoffDelay(this.attempt, this.options.backoff);
    this.attempt++;
    this.setState(this.state === 'connecting' ? 'connecting' : 'reconnecting', `${reason}; retrying in ${delay} ms`);
    this.timer = setTimeout(() => { void this.open(); }, delay);
  }

  private failPending(err: ChatError): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}

/** One channel of a `Chat`: its model, and every action of SPEC §3. */
export class Channel extends Emitter<ChannelEvents> {
  readonly model: ChannelModel;
  /** Joined (or wanted joined): re-joined after every reconnect. */
  wanted = false;
  /** Joined on the current connection (history in): changes may be sent. */
  ready = false;
  private typingSentAt = 0;
  private typingTimer: ReturnType<typeof setTimeout> | undefined;
  private joinWaiters: Array<{ resolve(h: HistoryFrame): void; reject(e: Error): void }> = [];
  private resumed = false;

  constructor(private readonly chat: Chat, readonly name: string) {
    super();
    this.model = new ChannelModel(name, '');
  }

  get messages(): readonly MessageFrame[] { return this.model.messages; }
  get presence(): ReadonlySet<string> { return this.model.presence; }
  get typingUsers(): string[] { return this.model.typing(); }
  get unread(): number { return this.model.unread; }
  get read(): number { return this.model.read; }
  get receipts(): ReadonlyMap<string, number> { return this.model.receipts; }
  /** Whether older messages remain to `page()` in. */
  get more(): boolean { return this.model.more; }

  /** Joins (now, or as soon as connected); resolves with the first `history`. */
  join(): Promise<HistoryFrame> {
    this.wanted = true;
    const joined = new Promise<HistoryFrame>((resolve, reject) => this.joinWaiters.push({ resolve, reject }));
    const client = this.chat.transport;
    if (client) void this.rejoin(client).catch(() => undefined);
    return joined;
  }

  /** (Re)joins on `client`: with `since` once the channel has a stream position. */
  async rejoin(client: ChatClient): Promise<void> {
    this.model.user = this.chat.user ?? '';
    this.resumed = this.model.lastSeq > 0;
    try {
      await client.join(this.name, this.resumed ? this.model.lastSeq : undefined);
    } catch (err) {
      const e = err as ChatError;
      if (e.code !== 'closed') {
        this.wanted = false;
        for (const w of this.joinWaiters.splice(0)) w.reject(e);
      }
      throw err;
    }
  }

  /** Leaves; the channel is not re-joined after reconnects. */
  async leave(): Promise<void> {
    this.wanted = false;
    this.ready = false;
    await this.chat.transport?.leave(this.name).catch(() => undefined);
  }

  send(text: string, id?: string): Promise<AckFrame> {
    return this.chat.change({ type: 'message', channel: this.name, text }, id);
  }

  edit(seq: number, text: string, id?: string): Promise<AckFrame> {
    return this.chat.change({ type: 'edit', channel: this.name, seq, text }, id);
  }

  delete(seq: number, id?: string): Promise<AckFrame> {
    return this.chat.change({ type: 'delete', channel: this.name, seq }, id);
  }

  react(seq: number, emoji: string, id?: string): Promise<AckFrame> {
    return this.chat.change({ type: 'react', channel: this.name, seq, emoji }, id);
  }

  unreact(seq: number, emoji: string, id?: string): Promise<AckFrame> {
    return this.chat.change({ type: 'unreact', channel: this.name, seq, emoji }, id);
  }

  /** Tells the others this user is typing; call it on every keystroke (at most one frame per 2 s goes out). */
  typing(): void {
    const now = Date.now();
    if (now - this.typingSentAt < 2000) return;
    this.typingSentAt = now;
    if (this.ready) this.chat.transport?.typing(this.name);
  }

  /** Moves this user's read marker to `seq` (default: the latest seq seen). */
  markRead(seq: number = this.model.lastSeq): void {
    if (seq <= this.model.read) return;
    this.model.markedRead(seq);
    this.onModel(['unread', 'receipts']);
    if (this.ready) this.chat.transport?.read(this.name, seq);
  }

  /** Loads up to `limit` older messages into the model; resolves with whether more remain. */
  async page(limit = 50): Promise<boolean> {
    const client = this.chat.transport;
    if (!client || !this.ready) throw new ChatError('not_connected', `join ${this.name} and wait for the connection first`);
    const oldest = this.model.messages[0]?.seq;
    const p: PageFrame = await client.page(this.name, oldest, limit);
    this.onModel(this.model.page(p));
    return p.more;
  }

  /**
   * Asks the server for the channel's full presence list (SPEC §3 `presence`) instead of waiting
   * for diffs; resolves with `presence` once the answer is in the model.
   */
  async loadPresence(): Promise<ReadonlySet<string>> {
    const client = this.chat.transport;
    if (!client || !this.ready) throw new ChatError('not_connected', `join ${this.name} and wait for the connection first`);
    await client.presence(this.name); // the answer reaches the model through the `presence` event
    return this.model.presence;
  }

  /** Users (not this one) whose read marker is at or past `seq`. */
  seenBy(seq: number): string[] {
    return this.model.seenBy(seq);
  }

  // ------------------------------------------------------------------ from the Chat

  onHistory(h: HistoryFrame): void {
    this.ready = true;
    const before = this.model.lastSeq;
    this.onModel(this.model.history(h, this.resumed));
    // A resume brings what was missed while away: to the listeners, as if live.
    if (this.resumed) for (const e of h.messages) if (e.seq > before) this.announce(e);
    for (const w of this.joinWaiters.splice(0)) w.resolve(h);
    this.chat.channelReady(this.name);
  }

  onLive(e: ChannelEvent): void {
    if (e.seq <= this.model.lastSeq) return;
    this.onModel(this.model.live(e));
    this.announce(e);
  }

  private announce(e: ChannelEvent): void {
    if (e.type === 'message') this.emit('message', e); else this.emit('update', e);
  }

  onTyping(user: string): void {
    this.onModel(this.model.typingNotice(user));
    // Re-render when the notice stops showing.
    if (this.typingTimer) clearTimeout(this.typingTimer);
    const next = this.model.nextTypingExpiry();
    if (next !== undefined) this.typingTimer = setTimeout(() => this.onModel(['typing']), Math.max(0, next - Date.now()) + 10);
  }

  onLeft(reason: string | undefined): void {
    this.ready = false;
    if (reason === 'forbidden') this.wanted = false;
    this.onModel(['presence']);
  }

  onError(e: ErrorFrame): void {
    this.emit('error', e);
  }

  onModel(changed: ChangeKind[]): void {
    if (changed.length > 0) this.emit('change', changed);
  }
}
