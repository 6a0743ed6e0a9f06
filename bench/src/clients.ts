/**
 * One chat member as the load generator drives it, for each system under test: ours (our wire
 * protocol over `ws`) and the baseline (Socket.IO's client over WebSocket only). Both join one
 * channel, wait for its history, send with an acknowledgement and report each delivered text.
 */
import WebSocket from 'ws';
import { io, type Socket } from 'socket.io-client';

export type SystemKind = 'ours' | 'baseline';

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
  /** Called with the text of every message the channel delivers to this member, and with the id of every update. */
  onText(text: string): void;
  /** Called for every typing notice delivered (ours). */
  onTyping?(): void;
}

/** Connects, joins and resolves once the channel's history has arrived. */
export function connectMember(kind: SystemKind, options: MemberOptions): Promise<Member> {
  return kind === 'ours' ? connectOurs(options) : connectBaseline(options);
}

function connectOurs({ url, user, channel, onText, onTyping }: MemberOptions): Promise<Member> {
  const query = new URLSearchParams({ user, channel });
  const ws = new WebSocket(`${url}/ws?${query}`, { perMessageDeflate: false });
  const pending = new Map<string, (error?: string) => void>();
  return new Promise((resolve, reject) => {
    let joined = false;
    const member = {
      ownLatest: 0,
      send(id: string, text: string, done: (error?: string) => void) {
        pending.set(id, done);
        ws.send(JSON.stringify({ type: 'message', channel, id, text }));
      },
      update(id: string, change: { text: string } | { emoji: string }, done: (error?: string) => void) {
        pending.set(id, done);
        const frame = 'text' in change
          ? { type: 'edit', channel, id, seq: member.ownLatest, text: change.text }
          : { type: 'react', channel, id, seq: member.ownLatest, emoji: change.emoji };
        ws.send(JSON.stringify(frame));
      },
      typing() { ws.send(`{"type":"typing","channel":${JSON.stringify(channel)}}`); },
      close() { ws.terminate(); },
    };
    ws.on('message', (data: Buffer) => {
      const text = data.toString();
      // Typing notices are counted only: no parse (they are most of the mixed load's frames).
      if (text.startsWith('{"type":"typing"')) { onTyping?.(); return; }
      const frame = JSON.parse(text) as { type: string; text?: string; id?: string; ref?: string; code?: string; author?: string; seq?: number };
      switch (frame.type) {
        case 'message':
          if (frame.author === user) member.ownLatest = frame.seq as number;
          onText(frame.text as string);
          break;
        case 'update': onText(`${frame.id as string}:`); break;
        case 'typing': onTyping?.(); break;
        case 'ack': pending.get(frame.id as string)?.(); pending.delete(frame.id as string); break;
        case 'history': if (!joined) { joined = true; resolve(member); } break;
        case 'error':
          if (frame.ref !== undefined && pending.has(frame.ref)) {
            pending.get(frame.ref)?.(frame.code);
            pending.delete(frame.ref);
          } else if (!joined) {
            reject(new Error(`join refused: ${frame.code}`));
          }
          break;
        default: break;
      }
    });
    ws.on('error', (err) => { if (!joined) reject(err); });
    ws.on('close', () => { for (const done of pending.values()) done('closed'); pending.clear(); });
  });
}

function connectBaseline({ url, user, channel, onText }: MemberOptions): Promise<Member> {
  const socket: Socket = io(url, { transports: ['websocket'], query: { user }, forceNew: true, reconnection: false });
  return new Promise((resolve, reject) => {
    socket.on('message', (frame: { text: string }) => onText(frame.text));
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

/** Opens a bare connection that joins nothing (idle-connection memory test). */
export function connectIdle(kind: SystemKind, url: string, user: string): Promise<() => void> {
  if (kind === 'ours') {
    const ws = new WebSocket(`${url}/ws?user=${encodeURIComponent(user)}`, { perMessageDeflate: false });
    return new Promise((resolve, reject) => {
      ws.once('message', () => resolve(() => ws.terminate()));
      ws.once('error', reject);
    });
  }
  const socket = io(url, { transports: ['websocket'], query: { user }, forceNew: true, reconnection: false });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(() => socket.disconnect()));
    socket.once('connect_error', reject);
  });
}
