/**
 * One chat member as the load generator drives it, for each kind of system under test: ours and
 * the ceiling speak our wire protocol, through the client library's single-socket client
 * (`ChatClient` from `@chat/client`, the one `Chat` is built on); the Socket.IO peers through
 * Socket.IO's client over WebSocket only. Every member joins one channel, waits for its history,
 * sends with an acknowledgement and reports each delivered text with its seq (when it has one).
 */
import WebSocket from 'ws';
import { io, type Socket } from 'socket.io-client';
import { ChatClient, type SocketLike } from '@chat/client';

/** `ours` and `ceiling` speak our protocol; `socketio` is either Socket.IO peer. */
export type SystemKind = 'ours' | 'ceiling' | 'socketio';

export interface Member {
  /** Sends one text to the member's channel; `done` gets an error code or undefined when acked. */
  send(id: string, text: string, done: (error?: string) => void): void;
  /**
   * Ours only (the mixed load): an edit (`text`) or a react (`emoji`) of the member's own latest
   * message, and a typing notice. `ownLatest` is that message's seq (0 before the first arrives).
   */
  update?(id: string, change: { text: string } | { emoji: string }, done: (error?: string) => void): void;
  typing?(): void;
  readonly ownLatest?: number;
  close(): void;
}

export interface MemberOptions {
  url: string;
  user: string;
  channel: string;
  /** Ours with authentication on: the member's token (its `sub` is `user`). */
  token?: string;
  /**
   * Called with the text of every message the channel delivers to this member (and with the id
   * of every update), and the event's seq when the system numbers them.
   */
  onText(text: string, seq: number | undefined): void;
  /** Called for every typing notice delivered (ours). */
  onTyping?(): void;
}

/** Connects, joins and resolves once the channel's history has arrived. */
export function connectMember(kind: SystemKind, options: MemberOptions): Promise<Member> {
  return kind === 'socketio' ? connectSocketIo(options) : connectProtocol(options);
}

/** A `ws` socket for the client library, without per-message deflate (as every system here runs). */
export const socketFactory = (url: string): SocketLike => new WebSocket(url, { perMessageDeflate: false }) as unknown as SocketLike;
const errorCode = (err: unknown): string => (err as { code?: string }).code ?? 'error';

async function connectProtocol({ url, user, token, channel, onText, onTyping }: MemberOptions): Promise<Member> {
  const client = await ChatClient.connect(url, { user, token, socket: socketFactory });
  const member = {
    ownLatest: 0,
    send(id: string, text: string, done: (error?: string) => void) {
      client.send(channel, text, id).then(() => done(), (err) => done(errorCode(err)));
    },
    update(id: string, change: { text: string } | { emoji: string }, done: (error?: string) => void) {
      const sent = 'text' in change ? client.edit(channel, member.ownLatest, change.text, id) : client.react(channel, member.ownLatest, change.emoji, id);
      sent.then(() => done(), (err) => done(errorCode(err)));
    },
    typing() { client.typing(channel); },
    close() { void client.close(); },
  };
  client.on('message', (m) => {
    if (m.author === user) member.ownLatest = m.seq;
    onText(m.text, m.seq);
  });
  client.on('update', (u) => onText(`${u.id}:`, u.seq));
  client.on('typing', () => onTyping?.());
  await client.join(channel);
  return member;
}

function connectSocketIo({ url, user, channel, onText }: MemberOptions): Promise<Member> {
  const socket: Socket = io(url, { transports: ['websocket'], query: { user }, forceNew: true, reconnection: false });
  return new Promise((resolve, reject) => {
    socket.on('message', (frame: { text: string; seq?: number }) => onText(frame.text, frame.seq));
    socket.once('connect_error', reject);
    socket.once('connect', () => {
      socket.emit('join', channel, () => resolve({
        send(id, text, done) {
          socket.timeout(30_000).emit('send', { channel, id, text }, (err: Error | null, reply?: { error?: string }) => {
            done(err ? 'timeout' : reply?.error);
          });
        },
        close() { socket.disconnect(); },
      }));
    });
  });
}

/** Opens a connection that joins one channel and stays idle (idle-connection memory test). */
export async function connectIdle(kind: SystemKind, url: string, user: string, channel: string): Promise<() => void> {
  if (kind !== 'socketio') {
    const client = await ChatClient.connect(url, { user, socket: socketFactory });
    await client.join(channel);
    return () => { void client.close(); };
  }
  const socket = io(url, { transports: ['websocket'], query: { user }, forceNew: true, reconnection: false });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => socket.emit('join', channel, () => resolve(() => socket.disconnect())));
    socket.once('connect_error', reject);
  });
}
