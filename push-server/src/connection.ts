/**
 * One client's WebSocket connection: validates every inbound frame, answers it, and hands chat
 * messages to the queue. It never closes the socket because of a bad frame (SPEC §3).
 */
import type { RawData, WebSocket } from 'ws';
import {
  AuthError, CloseCode, ErrorCode, errorFrame, parseClientFrame, type ChannelAccess, type ClientFrame, type ErrorFrame, type Identity,
  type InboundMessage, type Logger, type PageRequestFrame, type ReadFrame, type SendFrame, type ServerFrame, type TokenVerifier,
  type UpdateRequestFrame,
} from '@chat/shared';
import { TypingThrottle, type ChatEvents } from './chat-events.js';
import { NameTakenError, type ChannelHub, type MemberSink } from './channel-hub.js';
import { ForbiddenError, type ChannelAuthorizer } from './channel-authorizer.js';
import { OverloadedError } from './admission.js';
import type { PushMetrics } from './metrics.js';
import { TokenBucket } from './token-bucket.js';
import { WireFrame } from './wire-frame.js';
import type { HeldWriter, TypingHold } from './typing-hold.js';
import type { Socket } from 'node:net';

export interface ConnectionDeps {
  hub: ChannelHub;
  /** Decides what the connection's user may do in each channel (SPEC §7). */
  authorizer: ChannelAuthorizer;
  /** Verifies `refresh` tokens; disabled when authentication is off. */
  verifier: TokenVerifier;
  enqueue(message: InboundMessage): Promise<void>;
  /** Update checks, pages, read markers and typing (SPEC §3 "Chat events"). */
  events: ChatEvents;
  /** Where typing notices wait for a write to share (typing-hold.ts). */
  typingHold: TypingHold;
  logger: Logger;
  maxTextBytes: number;
  rateLimit: number;
  rateBurst: number;
  /** Channels one connection may be in at once. */
  maxChannels: number;
  /** Unsent bytes past which the connection is closed with 1013. */
  maxSendBufferBytes: number;
  metrics: PushMetrics;
  /** Called once when the connection's socket has closed (after the connection left its channels). */
  closed(connection: ClientConnection): void;
}

/** The connection a socket belongs to: its listeners are shared functions, not closures made per connection. */
const CONNECTION = Symbol('connection');
type OwnedSocket = WebSocket & { [CONNECTION]: ClientConnection };

/** Every frame (of any type) is budgeted at this multiple of RATE_LIMIT, messages at RATE_LIMIT. */
export const FRAME_BUDGET_FACTOR = 10;
/** Refused frames within FLOOD_WINDOW_MS past which the connection is closed with 1008. */
export const FLOOD_WINDOW_MS = 10_000;
export function floodLimit(rateBurst: number): number {
  return Math.max(100, 2 * rateBurst);
}

/**
 * Typing notices are the first thing dropped for a client that reads slowly: none is written
 * while this much is still unsent to it.
 */
export const TYPING_DROP_BUFFER_BYTES = 16 * 1024;

/** Longest a timer may wait (setTimeout's limit); a later expiry is re-armed when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class ClientConnection implements MemberSink, HeldWriter {
  /** Joined channels, with what the user may do in each (decided at the join, widened by a write the hook allowed). */
  readonly channels = new Map<string, ChannelAccess>();
  readonly user: string;
  private expiryTimer: NodeJS.Timeout | undefined;
  private readonly bucket: TokenBucket;
  private readonly frames: TokenBucket;
  private queue: Promise<void> = Promise.resolve();
  private refused = 0;
  private refusedSince = Date.now();
  private closing = false;
  private sentIds = 0;
  private corked = false;
  /** Created by the first typing frame: most connections never send one. */
  private typingThrottle: TypingThrottle | undefined;
  /** Typing notices waiting for this connection's next write (see TypingHold). */
  private heldTyping: Buffer[] | undefined;
  /** The TCP socket under the WebSocket (ws keeps it as `_socket`). */
  private get raw(): Socket | undefined {
    return (this.socket as unknown as { _socket?: Socket })._socket;
  }
  /** Missed WebSocket pongs since the last one (the server pings every 30 s). */
  missedPongs = 0;
  /** Which slice of the ping interval this connection is pinged in (set by the server). */
  pingSlice = 0;

  constructor(
    readonly id: string,
    private identity: Identity,
    readonly session: string,
    private readonly socket: WebSocket,
    private readonly deps: ConnectionDeps,
    /** The client's address (from X-Forwarded-For behind a trusted proxy), for logs. */
    readonly address = 'unknown',
  ) {
    this.user = identity.user;
    this.scheduleExpiry();
    this.bucket = new TokenBucket(deps.rateLimit, deps.rateBurst);
    this.frames = new TokenBucket(deps.rateLimit * FRAME_BUDGET_FACTOR, deps.rateBurst * FRAME_BUDGET_FACTOR);
    (socket as OwnedSocket)[CONNECTION] = this;
    socket.on('message', ClientConnection.onMessage);
    socket.on('pong', ClientConnection.onPong);
    socket.on('close', ClientConnection.onClose);
    socket.on('error', ClientConnection.onError);
  }

  // The socket's listeners, called with the socket as `this` (one function for every connection).
  private static onMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
    (this as OwnedSocket)[CONNECTION].receive(data as Buffer, isBinary);
  }

  private static onPong(this: WebSocket): void {
    (this as OwnedSocket)[CONNECTION].missedPongs = 0;
  }

  private static onClose(this: WebSocket): void {
    const connection = (this as OwnedSocket)[CONNECTION];
    connection.dispose();
    connection.deps.closed(connection);
  }

  private static onError(this: WebSocket, err: Error): void {
    const connection = (this as OwnedSocket)[CONNECTION];
    connection.deps.logger.debug('socket error', { connectionId: connection.id, error: err.message });
  }

  get isOpen(): boolean {
    return this.socket.readyState === 1 && !this.closing;
  }

  /**
   * Whether a frame may be written now. A client that stops reading must not make the server
   * buffer without bound: past MAX_SEND_BUFFER_BYTES it is closed with 1013 and its buffers freed.
   */
  private canSend(): boolean {
    if (!this.isOpen) return false;
    if (this.socket.bufferedAmount <= this.deps.maxSendBufferBytes) return true;
    this.deps.metrics.slowClientDisconnects.inc();
    this.shutdown(CloseCode.TryAgainLater, 'send buffer full: the client is not reading');
    return false;
  }

  /** Sends a serialised frame. */
  sendFrame(frame: Buffer | string, type: ServerFrame['type']): void {
    if (!this.canSend()) return;
    this.socket.send(frame, { binary: false });
    if (type === 'message') this.deps.metrics.delivered++; else this.deps.metrics.framesOut.inc({ type });
  }

  /**
   * Sends a stored message: the frame's bytes, framed once for all members, go straight to the
   * socket (no deflate is negotiated, so ws has nothing to transform or queue). Writes in one
   * tick are corked into one system call: a batch of messages reaches a member in one write.
   */
  sendMessage(frame: WireFrame): void {
    if (this.write(frame)) this.deps.metrics.delivered++;
  }

  /**
   * Sends a frame fanned out to many members (typing, receipts, presence changes) the same way.
   * Typing is the first thing dropped for a client that reads slowly.
   */
  sendShared(frame: WireFrame, type: 'typing' | 'receipts' | 'presence'): void {
    if (type === 'typing') { this.sendTyping(frame); return; }
    if (this.write(frame)) this.deps.metrics.framesOut.inc({ type });
  }

  /** A typing notice shares a write going out now, or waits for the next one (TypingHold). */
  private sendTyping(frame: WireFrame): void {
    if (this.socket.bufferedAmount > TYPING_DROP_BUFFER_BYTES) {
      this.deps.metrics.typingDropped.inc();
      return;
    }
    if (this.corked || !this.raw) {
      if (this.write(frame)) this.deps.metrics.framesOut.inc({ type: 'typing' });
      return;
    }
    if (!this.isOpen) return;
    if (this.heldTyping) {
      this.heldTyping.push(frame.bytes);
    } else {
      this.heldTyping = [frame.bytes];
      this.deps.typingHold.hold(this);
    }
  }

  /** Writes the typing notices held for this connection (the hold ended, or another write goes out). */
  writeHeld(): void {
    const held = this.heldTyping;
    const raw = this.raw;
    if (!held) return;
    this.heldTyping = undefined;
    if (!raw || !this.canSend()) return;
    this.cork(raw);
    for (const bytes of held) raw.write(bytes);
    this.deps.metrics.framesOut.inc({ type: 'typing' }, held.length);
  }

  private write(frame: WireFrame): boolean {
    if (!this.canSend()) return false;
    const raw = this.raw;
    if (!raw) {
      this.socket.send(frame.payload, { binary: false });
    } else {
      if (!this.corked) {
        this.cork(raw);
        if (this.heldTyping) {
          this.deps.typingHold.release(this);
          this.writeHeld();
        }
      }
      raw.write(frame.bytes);
    }
    return true;
  }

  /** Writes in this tick are corked into one system call: a batch of frames reaches a member in one write. */
  private cork(raw: Socket): void {
    if (this.corked) return;
    this.corked = true;
    raw.cork();
    process.nextTick(() => { this.corked = false; raw.uncork(); });
  }

  /** Closes with a code, and drops the socket if the close handshake cannot finish soon. */
  private shutdown(code: number, reason: string): void {
    if (this.closing) return;
    this.closing = true;
    this.deps.logger.info('closing connection', { connectionId: this.id, address: this.address, code, reason });
    this.socket.close(code, reason);
    setTimeout(() => this.socket.terminate(), 1000).unref();
  }

  send(frame: ServerFrame): void {
    if (frame.type === 'error') this.deps.metrics.errors.inc({ code: frame.code });
    this.sendFrame(JSON.stringify(frame), frame.type);
  }

  close(code: number, reason: string): void {
    this.socket.close(code, reason);
  }

  ping(): void {
    if (this.isOpen) this.socket.ping();
  }

  /** Drops a connection that stopped answering pings. */
  terminate(): void {
    this.socket.terminate();
  }

  /** Joins the channels given in the connection URL, as if `join` frames had been sent. */
  joinAll(channels: string[]): void {
    for (const channel of channels) this.queue = this.queue.then(() => this.handle({ type: 'join', channel }));
  }

  /** Closes the connection with 4001 at the token's `exp` (re-armed by every accepted `refresh`). */
  private scheduleExpiry(): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    const exp = this.identity.exp;
    if (exp === undefined) return;
    const wait = exp * 1000 - Date.now();
    this.expiryTimer = setTimeout(() => {
      if (exp * 1000 > Date.now()) { this.scheduleExpiry(); return; }
      this.shutdown(CloseCode.TokenExpired, 'token expired: connect again with a new token');
    }, Math.max(0, Math.min(wait, MAX_TIMER_MS)));
    this.expiryTimer.unref();
  }

  /** Leaves every channel (the socket closed). */
  dispose(): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    for (const channel of this.channels.keys()) this.deps.hub.leave(this, channel);
    this.channels.clear();
  }

  private receive(data: Buffer, isBinary: boolean): void {
    if (this.closing) return;
    const result = parseClientFrame(isBinary ? data : data.toString('utf8'), isBinary, { maxTextBytes: this.deps.maxTextBytes });
    if (!this.frames.take()) {
      this.deps.metrics.framesIn.inc({ type: 'refused' });
      // The refusal names the frame's channel and id, so a client can tell which request it answers.
      const frame = result.ok ? result.frame as Partial<Record<'channel' | 'id', string>> : {};
      this.refuse(errorFrame(ErrorCode.RateLimited, `too many frames: at most ${this.deps.rateLimit * FRAME_BUDGET_FACTOR}/s`,
        { channel: frame.channel, ref: frame.id }));
      return;
    }
    if (result.ok && result.frame.type === 'message') this.deps.metrics.messagesIn++;
    else this.deps.metrics.framesIn.inc({ type: result.ok ? result.frame.type : 'invalid' });
    if (result.ok && result.frame.type === 'ping') { this.sendFrame('{"type":"pong"}', 'pong'); return; }
    // Frames are handled one after another, so answers come in the order the frames were sent
    // (a join's history before the left of a leave right behind it) and a connection's messages
    // are enqueued in order. Two exceptions: pings skip the line (they measure liveness), and an
    // ack comes when its add lands, after the answers of later frames (see `message`).
    this.queue = this.queue
      .then(() => (result.ok ? this.handle(result.frame) : this.send(result.error)))
      .catch((err: Error) => this.fail(err, result.ok && 'channel' in result.frame ? result.frame.channel : ''));
  }

  /** Answers a refused frame; a client that keeps flooding is closed with 1008. */
  private refuse(frame: ErrorFrame): void {
    const now = Date.now();
    if (now - this.refusedSince > FLOOD_WINDOW_MS) { this.refused = 0; this.refusedSince = now; }
    if (++this.refused > floodLimit(this.deps.rateBurst)) {
      this.deps.metrics.floodDisconnects.inc();
      this.shutdown(CloseCode.PolicyViolation, 'rate limit exceeded persistently');
      return;
    }
    this.send(frame);
  }

  private async handle(frame: ClientFrame): Promise<void> {
    switch (frame.type) {
      case 'ping':
        this.sendFrame('{"type":"pong"}', 'pong');
        return;
      case 'join':
        if (!this.channels.has(frame.channel) && this.channels.size >= this.deps.maxChannels) {
          this.send(errorFrame(ErrorCode.BadRequest, `at most ${this.deps.maxChannels} channels per connection: leave one first`,
            { channel: frame.channel, details: ['channel limit reached (MAX_CHANNELS_PER_CONNECTION)'] }));
          return;
        }
        try {
          this.channels.set(frame.channel, await this.deps.authorizer.authorize(this.identity, frame.channel, 'read'));
        } catch (err) {
          if (err instanceof ForbiddenError) { this.forbidden(err, frame.channel); return; }
          throw err;
        }
        try {
          await this.deps.hub.join(this, frame.channel, frame.since);
          this.deps.metrics.joins.inc();
        } catch (err) {
          this.channels.delete(frame.channel);
          if (err instanceof NameTakenError) this.send(errorFrame(ErrorCode.NameTaken, err.message, { channel: frame.channel }));
          else this.fail(err, frame.channel);
        }
        return;
      case 'leave':
        if (!this.deps.hub.leave(this, frame.channel)) { this.notJoined(frame.channel); return; }
        this.channels.delete(frame.channel);
        this.typingThrottle?.forget(frame.channel);
        this.send({ type: 'left', channel: frame.channel });
        return;
      case 'presence': {
        const presence = this.deps.hub.presenceFrame(this, frame.channel);
        if (presence === undefined) { this.notJoined(frame.channel); return; }
        this.sendFrame(presence, 'presence');
        return;
      }
      case 'message':
        return this.message(frame);
      case 'edit':
      case 'delete':
      case 'react':
      case 'unreact':
        await this.update(frame);
        return;
      case 'typing':
        await this.typing(frame.channel);
        return;
      case 'read':
        await this.read(frame);
        return;
      case 'page':
        await this.page(frame);
        return;
      case 'refresh':
        await this.refresh(frame.token);
        return;
      default: {
        const exhaustive: never = frame;
        void exhaustive;
      }
    }
  }

  /**
   * A message is handed to its partition's queue at once and acknowledged when the add lands; the
   * next frame does not wait for that ack (pipelining). Frames are still handled one by one, so
   * a connection's messages reach the queue in the order they were sent.
   */
  private message(frame: SendFrame): void | Promise<void> {
    const id = frame.id ?? `${this.id}.${++this.sentIds}`;
    // The common case is decided without a promise: joined with write access, within the rate.
    const may = this.mayChange(frame.channel, id);
    if (may === true) { this.enqueueMessage(frame, id); return undefined; }
    if (may === false) return undefined;
    return may.then((ok) => { if (ok) this.enqueueMessage(frame, id); });
  }

  private enqueueMessage(frame: SendFrame, id: string): void {
    this.enqueueAndAck({ channel: frame.channel, id, author: this.user, text: frame.text, receivedAt: Date.now() });
  }

  /** edit, delete, react, unreact: checked (SPEC "Precise rules"), then queued like a message. */
  private async update(frame: UpdateRequestFrame): Promise<void> {
    const id = frame.id ?? `${this.id}.${++this.sentIds}`;
    const may = this.mayChange(frame.channel, id);
    if (may !== true && !(await may)) return;
    const refusal = await this.deps.events.refusal(frame, this.user);
    if (refusal) { this.send(errorFrame(refusal.code, refusal.message, { ref: id, channel: frame.channel })); return; }
    this.enqueueAndAck(this.deps.events.inbound(frame, id, this.user));
  }

  /**
   * Whether this connection may change the channel now (joined, write access, within RATE_LIMIT);
   * answers the refusal itself. Synchronous unless the write must be asked of the authorizer.
   */
  private mayChange(channel: string, id: string): boolean | Promise<boolean> {
    const access = this.channels.get(channel);
    if (access === undefined) { this.notJoined(channel, id); return false; }
    if (access !== 'write') return this.widenToWrite(channel, id).then((ok) => ok && this.withinRate(channel, id));
    return this.withinRate(channel, id);
  }

  private withinRate(channel: string, id: string): boolean {
    if (this.bucket.take()) return true;
    this.refuse(errorFrame(ErrorCode.RateLimited,
      `more than ${this.deps.rateLimit} messages/s: slow down and resend with the same id`, { ref: id, channel }));
    return false;
  }

  /**
   * Hands a change to the queue now (synchronously, so order is kept) and answers it when the
   * add is confirmed: `ack`, or `overloaded`/`internal` with its id. Nothing waits for the answer.
   */
  private enqueueAndAck(message: InboundMessage): void {
    const { id, channel } = message;
    this.deps.enqueue(message).then(
      // Acks take the raw, corked path: the acks of one job that go to one connection share a write.
      () => { if (this.write(WireFrame.text(`{"type":"ack","id":${JSON.stringify(id)},"channel":"${channel}"}`))) this.deps.metrics.acked++; },
      (err: unknown) => {
        if (err instanceof OverloadedError) this.send(errorFrame(ErrorCode.Overloaded, err.message, { ref: id, channel }));
        else this.fail(err, channel, id);
      },
    );
  }

  /** Typing needs the channel joined with write access; one per channel per window goes on. */
  private async typing(channel: string): Promise<void> {
    const access = this.channels.get(channel);
    if (access === undefined) { this.notJoined(channel); return; }
    if (!(this.typingThrottle ??= new TypingThrottle()).pass(channel)) return;
    if (access !== 'write' && !(await this.widenToWrite(channel, undefined))) return;
    this.deps.events.typing(channel, this.user);
  }

  private async read(frame: ReadFrame): Promise<void> {
    if (!this.channels.has(frame.channel)) { this.notJoined(frame.channel); return; }
    await this.deps.events.read(frame.channel, this.user, frame.seq);
  }

  private async page(frame: PageRequestFrame): Promise<void> {
    if (!this.channels.has(frame.channel)) { this.notJoined(frame.channel); return; }
    this.sendFrame(await this.deps.events.page(frame), 'page');
  }

  /**
   * A write to a channel joined read-only: asked of the authorizer (claims, then the hook with
   * action "write"); answers `forbidden` itself when refused.
   */
  private async widenToWrite(channel: string, ref: string | undefined): Promise<boolean> {
    try {
      const granted = await this.deps.authorizer.authorize(this.identity, channel, 'write');
      if (this.channels.has(channel)) this.channels.set(channel, granted);
      return true;
    } catch (err) {
      if (err instanceof ForbiddenError) { this.forbidden(err, channel, ref); return false; }
      throw err;
    }
  }

  /**
   * `refresh`: a valid newer token for the same user extends the connection; then the new claims
   * apply, and a joined channel they no longer permit is left with `reason: "forbidden"`.
   */
  private async refresh(token: string): Promise<void> {
    if (!this.deps.verifier.enabled) {
      this.send(errorFrame(ErrorCode.BadRequest, 'authentication is off: there is no token to refresh', { details: ['refresh needs authentication on'] }));
      return;
    }
    let next: Identity;
    try {
      next = await this.deps.verifier.verify(token);
    } catch (err) {
      if (err instanceof AuthError) { this.send(errorFrame(ErrorCode.Unauthorized, `refresh refused: ${err.message}`)); return; }
      throw err;
    }
    const current = this.identity;
    if (next.user !== current.user) {
      this.send(errorFrame(ErrorCode.Unauthorized, `refresh refused: the token is for ${next.user}, this connection is ${current.user}`));
      return;
    }
    if (current.exp === undefined || (next.exp !== undefined && next.exp <= current.exp)) {
      this.send(errorFrame(ErrorCode.Unauthorized, 'refresh refused: the token does not expire later than the current one'));
      return;
    }
    this.identity = next;
    this.scheduleExpiry();
    this.sendFrame(JSON.stringify({ type: 'refreshed', exp: next.exp ?? null }), 'refreshed');
    for (const channel of [...this.channels.keys()]) {
      try {
        const access = await this.deps.authorizer.authorize(next, channel, 'read');
        if (this.channels.has(channel)) this.channels.set(channel, access);
      } catch (err) {
        if (!(err instanceof ForbiddenError)) throw err;
        if (this.deps.hub.leave(this, channel)) this.send({ type: 'left', channel, reason: 'forbidden' });
        this.channels.delete(channel);
      }
    }
  }

  private forbidden(err: Error, channel: string, ref?: string): void {
    this.send(errorFrame(ErrorCode.Forbidden, err.message, { channel, ref }));
  }

  private notJoined(channel: string, ref?: string): void {
    this.send(errorFrame(ErrorCode.NotJoined, `join ${channel} first`, { channel, ref }));
  }

  private fail(err: unknown, channel: string, ref?: string): void {
    this.deps.logger.warn('request failed', { connectionId: this.id, channel, error: (err as Error).message });
    const frame: ErrorFrame = errorFrame(ErrorCode.Internal, 'the server could not complete this request: retry', { channel, ref });
    this.send(frame);
  }
}
