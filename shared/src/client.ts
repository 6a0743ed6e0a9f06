/**
 * A small typed client of the chat protocol, for Node (pass `ws`'s WebSocket) and the browser
 * (uses the global WebSocket). Requests return promises matched to the server's answers:
 * `send` to its `ack` (by id), `join` to its `history`, `leave` to `left`, `ping` to `pong`.
 *
 * Events fire synchronously in the order frames arrive. A promise settles later (a microtask),
 * possibly after live `message` events that arrived in the same network chunk, so a client that
 * tracks `seq` should take history from the `history` event, not from `await join()`.
 */
import type {
  AckFrame, ErrorFrame, HistoryFrame, LeftFrame, MessageFrame, PageFrame, PresenceFrame, ReceiptsFrame, RefreshedFrame, ServerFrame,
  TypingNoticeFrame, UpdateFrame, UpdateRequestFrame, WelcomeFrame,
} from './protocol.js';

/** The part of the WebSocket API the client uses (browser WebSocket and `ws` both fit). */
export interface SocketLike {
  readonly readyState: number;
  send(data: string | ArrayBufferView | ArrayBuffer): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
export type SocketFactory = (url: string) => SocketLike;

export interface ConnectOptions {
  /** Creates the socket; default: `new WebSocket(url)` with the global WebSocket. */
  socket?: SocketFactory;
  user?: string;
  token?: string;
  /** A client session id kept across reconnects: lets it reclaim its name before the old connection is swept. */
  session?: string;
  /** Channels to join at once (`channel=` query parameters). */
  channels?: string[];
  /** Fail if no `welcome` arrives in this time. Default 10 s. */
  timeoutMs?: number;
  /**
   * Called for a newer token before the current one (`token`) expires; the client sends it as a
   * `refresh` frame, so the connection is not closed with 4001 at `exp`.
   */
  getToken?: () => Promise<string>;
}

/** The `exp` (unix seconds) of a JWT, read without verifying it; undefined when it has none. */
export function tokenExpiry(token: string): number | undefined {
  try {
    const part = (token.split('.')[1] ?? '').replace(/-/g, '+').replace(/_/g, '/');
    const payload = JSON.parse(atob(part + '='.repeat((4 - (part.length % 4)) % 4))) as { exp?: unknown };
    return typeof payload.exp === 'number' ? payload.exp : undefined;
  } catch {
    return undefined;
  }
}

/** How long before `exp` a token is refreshed: a fifth of what is left, at most 30 s. */
export function refreshDelayMs(exp: number, now = Date.now()): number {
  const left = exp * 1000 - now;
  return Math.max(0, left - Math.min(30_000, left / 5));
}

/** An `error` frame, or a closed connection, as a rejected promise. */
export class ChatError extends Error {
  override name = 'ChatError';
  constructor(readonly code: string, message: string, readonly frame?: ErrorFrame) {
    super(message);
  }
}

interface Pending<T> { kind: 'join' | 'leave' | 'presence' | 'page'; resolve(v: T): void; reject(e: Error): void }

type Events = {
  message: MessageFrame;
  /** An edit, delete, react or unreact of an earlier message, in the channel's seq order. */
  update: UpdateFrame;
  typing: TypingNoticeFrame;
  receipts: ReceiptsFrame;
  history: HistoryFrame;
  presence: PresenceFrame;
  /** A channel left, on request or because a refreshed token no longer permits it (`reason`). */
  left: LeftFrame;
  error: ErrorFrame;
  frame: ServerFrame;
  close: { code: number; reason: string };
};

/** Builds the WebSocket URL of a push server from its base (`ws://host:port` or `http://host:port`). */
export function chatUrl(base: string, options: Pick<ConnectOptions, 'user' | 'token' | 'channels' | 'session'> = {}): string {
  const url = new URL(base.replace(/^http/, 'ws'));
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/ws';
  if (options.user !== undefined) url.searchParams.set('user', options.user);
  if (options.token !== undefined) url.searchParams.set('token', options.token);
  if (options.session !== undefined) url.searchParams.set('session', options.session);
  for (const c of options.channels ?? []) url.searchParams.append('channel', c);
  return url.toString();
}

export class ChatClient {
  private readonly listeners = new Map<keyof Events, Set<(v: never) => void>>();
  private readonly acks = new Map<string, { resolve(v: AckFrame): void; reject(e: Error): void }>();
  private readonly perChannel = new Map<string, Pending<unknown>[]>();
  private readonly pongs: Array<() => void> = [];
  private readonly refreshes: Array<{ resolve(v: RefreshedFrame): void; reject(e: Error): void }> = [];
  private nextId = 0;
  private readonly idPrefix = Math.random().toString(36).slice(2, 10);
  private closed?: { code: number; reason: string };
  private closeWaiters: Array<(v: { code: number; reason: string }) => void> = [];

  private refreshTimer: ReturnType<typeof setTimeout> | undefined;

  private constructor(private readonly socket: SocketLike, readonly welcome: WelcomeFrame) {}

  /** Refreshes the token through `getToken` before each expiry, for as long as the connection lives. */
  private keepFresh(getToken: () => Promise<string>, exp: number | undefined): void {
    if (exp === undefined || this.closed) return;
    this.refreshTimer = setTimeout(() => {
      getToken()
        .then((token) => this.refresh(token))
        .then((answer) => this.keepFresh(getToken, answer.exp ?? undefined))
        .catch(() => {
          // Try again later (after four fifths of what is left) while the token still holds;
          // at exp the server closes with 4001.
          if (exp * 1000 - Date.now() > 1000) this.keepFresh(getToken, exp);
        });
    }, refreshDelayMs(exp));
  }

  /** Opens a connection and resolves once the server's `welcome` arrived. */
  static connect(base: string, options: ConnectOptions = {}): Promise<ChatClient> {
    const factory: SocketFactory = options.socket ??
      ((url) => new (globalThis as unknown as { WebSocket: new (u: string) => SocketLike }).WebSocket(url));
    const socket = factory(chatUrl(base, options));
    return new Promise<ChatClient>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.close();
        reject(new ChatError('timeout', `no welcome from ${base} within ${options.timeoutMs ?? 10000} ms`));
      }, options.timeoutMs ?? 10000);
      const early: ServerFrame[] = [];
      socket.onerror = () => { /* the close event follows and carries the outcome */ };
      socket.onclose = (ev) => {
        clearTimeout(timer);
        reject(new ChatError('closed', `connection to ${base} closed before welcome (code ${ev.code}${ev.reason ? `: ${ev.reason}` : ''})`));
      };
      socket.onmessage = (ev) => {
        const frame = JSON.parse(String(ev.data)) as ServerFrame;
        if (frame.type !== 'welcome') { early.push(frame); return; }
        clearTimeout(timer);
        const client = new ChatClient(socket, frame);
        socket.onmessage = (e) => client.handle(JSON.parse(String(e.data)) as ServerFrame);
        socket.onclose = (e) => client.handleClose(e.code, e.reason);
        if (options.getToken && options.token) client.keepFresh(options.getToken, tokenExpiry(options.token));
        resolve(client);
        for (const f of early) client.handle(f);
      };
    });
  }

  get isOpen(): boolean { return this.closed === undefined && this.socket.readyState === 1; }

  on<K extends keyof Events>(event: K, fn: (v: Events[K]) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) { set = new Set(); this.listeners.set(event, set); }
    const entry = fn as (v: never) => void;
    set.add(entry);
    return () => { set.delete(entry); };
  }

  /** Joins a channel; resolves with its `history` (the last messages, or those after `since`). */
  join(channel: string, since?: number): Promise<HistoryFrame> {
    return this.request<HistoryFrame>(channel, 'join', since === undefined ? { type: 'join', channel } : { type: 'join', channel, since });
  }

  leave(channel: string): Promise<LeftFrame> {
    return this.request<LeftFrame>(channel, 'leave', { type: 'leave', channel });
  }

  presence(channel: string): Promise<PresenceFrame> {
    return this.request<PresenceFrame>(channel, 'presence', { type: 'presence', channel });
  }

  /** Sends a message; resolves when the server acknowledges it is durably queued. */
  send(channel: string, text: string, id: string = this.newId()): Promise<AckFrame> {
    return new Promise<AckFrame>((resolve, reject) => {
      if (!this.isOpen) { reject(this.closedError()); return; }
      this.acks.set(id, { resolve, reject });
      this.socket.send(JSON.stringify({ type: 'message', channel, text, id }));
    });
  }

  /** Edits one of this user's messages; resolves on the ack (members then get an `update`). */
  edit(channel: string, seq: number, text: string, id: string = this.newId()): Promise<AckFrame> {
    return this.change({ type: 'edit', channel, seq, text, id });
  }

  /** Deletes one of this user's messages. */
  delete(channel: string, seq: number, id: string = this.newId()): Promise<AckFrame> {
    return this.change({ type: 'delete', channel, seq, id });
  }

  react(channel: string, seq: number, emoji: string, id: string = this.newId()): Promise<AckFrame> {
    return this.change({ type: 'react', channel, seq, emoji, id });
  }

  unreact(channel: string, seq: number, emoji: string, id: string = this.newId()): Promise<AckFrame> {
    return this.change({ type: 'unreact', channel, seq, emoji, id });
  }

  /** Tells the other members this user is typing (no answer; the server forwards one per 2 s). */
  typing(channel: string): void {
    if (this.isOpen) this.socket.send(JSON.stringify({ type: 'typing', channel }));
  }

  /** Moves this user's read marker (no answer; members get coalesced `receipts`). */
  read(channel: string, seq: number): void {
    if (this.isOpen) this.socket.send(JSON.stringify({ type: 'read', channel, seq }));
  }

  /** Messages before `before` (from the newest when omitted), oldest first. */
  page(channel: string, before?: number, limit?: number): Promise<PageFrame> {
    const frame: Record<string, unknown> = { type: 'page', channel };
    if (before !== undefined) frame.before = before;
    if (limit !== undefined) frame.limit = limit;
    return this.request<PageFrame>(channel, 'page', frame);
  }

  private change(frame: UpdateRequestFrame & { id: string }): Promise<AckFrame> {
    return new Promise<AckFrame>((resolve, reject) => {
      if (!this.isOpen) { reject(this.closedError()); return; }
      this.acks.set(frame.id, { resolve, reject });
      this.socket.send(JSON.stringify(frame));
    });
  }

  /** Sends a newer token for the same user; resolves with `refreshed`, rejects with `unauthorized`. */
  refresh(token: string): Promise<RefreshedFrame> {
    return new Promise<RefreshedFrame>((resolve, reject) => {
      if (!this.isOpen) { reject(this.closedError()); return; }
      this.refreshes.push({ resolve, reject });
      this.socket.send(JSON.stringify({ type: 'refresh', token }));
    });
  }

  ping(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (!this.isOpen) { reject(this.closedError()); return; }
      this.pongs.push(resolve);
      this.socket.send('{"type":"ping"}');
    });
  }

  /** Sends anything as is (tests of bad input). */
  sendRaw(data: string | Uint8Array): void {
    this.socket.send(data);
  }

  /** Resolves with the next frame that matches, or rejects after `timeoutMs`. */
  nextFrame<T extends ServerFrame = ServerFrame>(match: (f: ServerFrame) => boolean, timeoutMs = 10000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const off = this.on('frame', (f) => {
        if (!match(f)) return;
        clearTimeout(timer);
        off();
        resolve(f as T);
      });
      const timer = setTimeout(() => { off(); reject(new ChatError('timeout', `no matching frame within ${timeoutMs} ms`)); }, timeoutMs);
    });
  }

  /** Resolves once the connection is closed, with the close code and reason. */
  waitClosed(): Promise<{ code: number; reason: string }> {
    if (this.closed) return Promise.resolve(this.closed);
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  close(code = 1000, reason = ''): Promise<{ code: number; reason: string }> {
    if (!this.closed) this.socket.close(code, reason);
    return this.waitClosed();
  }

  private newId(): string {
    return `${this.idPrefix}-${++this.nextId}`;
  }

  private request<T>(channel: string, kind: Pending<T>['kind'], frame: object): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (!this.isOpen) { reject(this.closedError()); return; }
      const list = this.perChannel.get(channel) ?? [];
      list.push({ kind, resolve, reject } as Pending<unknown>);
      this.perChannel.set(channel, list);
      this.socket.send(JSON.stringify(frame));
    });
  }

  private settle(channel: string, kind: Pending<unknown>['kind'] | undefined, value: unknown, error?: Error): boolean {
    const list = this.perChannel.get(channel);
    if (!list) return false;
    const index = kind === undefined ? 0 : list.findIndex((p) => p.kind === kind);
    if (index < 0 || index >= list.length) return false;
    const [pending] = list.splice(index, 1);
    if (list.length === 0) this.perChannel.delete(channel);
    if (error) pending?.reject(error); else pending?.resolve(value);
    return true;
  }

  private handle(frame: ServerFrame): void {
    switch (frame.type) {
      case 'message': this.emit('message', frame); break;
      case 'update': this.emit('update', frame); break;
      case 'typing': this.emit('typing', frame); break;
      case 'receipts': this.emit('receipts', frame); break;
      case 'page': this.settle(frame.channel, 'page', frame); break;
      case 'history': this.settle(frame.channel, 'join', frame); this.emit('history', frame); break;
      case 'left': this.settle(frame.channel, 'leave', frame); this.emit('left', frame); break;
      case 'presence':
        if (frame.users) this.settle(frame.channel, 'presence', frame);
        this.emit('presence', frame);
        break;
      case 'ack': {
        const pending = this.acks.get(frame.id);
        this.acks.delete(frame.id);
        pending?.resolve(frame);
        break;
      }
      case 'pong': this.pongs.shift()?.(); break;
      case 'refreshed': this.refreshes.shift()?.resolve(frame); break;
      case 'error': {
        const error = new ChatError(frame.code, frame.message, frame);
        const ack = frame.ref !== undefined ? this.acks.get(frame.ref) : undefined;
        if (ack && frame.ref !== undefined) { this.acks.delete(frame.ref); ack.reject(error); }
        else if (frame.channel !== undefined) this.settle(frame.channel, undefined, undefined, error);
        else if ((frame.code === 'unauthorized' || frame.code === 'bad_request') && this.refreshes.length > 0) this.refreshes.shift()?.reject(error);
        this.emit('error', frame);
        break;
      }
      case 'welcome': break;
      default: {
        const exhaustive: never = frame;
        void exhaustive;
      }
    }
    this.emit('frame', frame);
  }

  private handleClose(code: number, reason: string): void {
    this.closed = { code, reason };
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    const error = this.closedError();
    for (const a of this.acks.values()) a.reject(error);
    this.acks.clear();
    for (const list of this.perChannel.values()) for (const p of list) p.reject(error);
    this.perChannel.clear();
    for (const r of this.refreshes.splice(0)) r.reject(error);
    this.emit('close', this.closed);
    for (const w of this.closeWaiters) w(this.closed);
    this.closeWaiters = [];
  }

  private closedError(): ChatError {
    return new ChatError('closed', `connection closed${this.closed ? ` (code ${this.closed.code})` : ''}`);
  }

  private emit<K extends keyof Events>(event: K, value: Events[K]): void {
    const set = this.listeners.get(event);
    if (set) for (const fn of [...set]) (fn as (v: Events[K]) => void)(value);
  }
}
