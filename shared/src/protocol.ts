/**
 * The WebSocket protocol (SPEC §3): every frame as one discriminated union, and the single
 * validator that turns any inbound frame into either a typed client frame or the SPEC error.
 * This module has no Node.js dependencies so the browser page can use it too.
 */
import { ErrorCode } from './codes.js';

/** Channel names: a letter or digit, then up to 63 of letters, digits, `_ . : -`. */
export const CHANNEL_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;
/** Client-chosen message ids are at most this many characters. */
export const MAX_ID_LENGTH = 64;
/** User names are 1–64 characters with no control characters. */
export const USER_PATTERN = /^[^\u0000-\u001f\u007f]{1,64}$/;
/** Longest token a `refresh` frame may carry. */
export const MAX_TOKEN_LENGTH = 8192;
/** A `join` with `since` returns at most this many events (`complete:false` when cut). */
export const MAX_SINCE_MESSAGES = 1000;
/** A `page` holds 1 to this many messages; `limit` defaults to DEFAULT_PAGE_LIMIT. */
export const MAX_PAGE_LIMIT = 100;
export const DEFAULT_PAGE_LIMIT = 50;
/** An emoji (any reaction key) is 1 to this many UTF-8 bytes, without control characters. */
export const MAX_EMOJI_BYTES = 32;
/** `unread` in a `history` is counted up to this many messages. */
export const MAX_UNREAD_COUNT = 1000;
/**
 * Reactions on one message are capped so that a frame stays small: at most this many distinct
 * emoji, each with at most MAX_REACTORS names (a react past either is refused with `bad_request`,
 * or dropped if the cap is reached while it waits in the queue).
 */
export const MAX_REACTION_EMOJI = 20;
export const MAX_REACTORS = 100;

// ---------------------------------------------------------------- client → server

export interface JoinFrame { type: 'join'; channel: string; since?: number }
export interface LeaveFrame { type: 'leave'; channel: string }
export interface SendFrame { type: 'message'; channel: string; text: string; id?: string }
export interface PingFrame { type: 'ping' }
export interface PresenceRequestFrame { type: 'presence'; channel: string }
/** A newer token for the same user, sent before the current one expires (SPEC §7). */
export interface RefreshFrame { type: 'refresh'; token: string }

/** What an `update` does to its target message. */
export type UpdateAction = 'edit' | 'delete' | 'react' | 'unreact';
export const UPDATE_ACTIONS: readonly UpdateAction[] = ['edit', 'delete', 'react', 'unreact'];
/** `seq` names the target message; `id` (optional) de-duplicates like a message's. */
export interface EditFrame { type: 'edit'; channel: string; seq: number; text: string; id?: string }
export interface DeleteFrame { type: 'delete'; channel: string; seq: number; id?: string }
export interface ReactFrame { type: 'react' | 'unreact'; channel: string; seq: number; emoji: string; id?: string }
/** Frames that change a stored message: queued, stored and counted in `seq` like messages. */
export type UpdateRequestFrame = EditFrame | DeleteFrame | ReactFrame;
/** Ephemeral: forwarded to the other members, never stored. */
export interface TypingFrame { type: 'typing'; channel: string }
/** Moves the user's read marker in the channel to max(old, seq). */
export interface ReadFrame { type: 'read'; channel: string; seq: number }
/** Scroll-back: messages with seq < `before` (from the newest when omitted). */
export interface PageRequestFrame { type: 'page'; channel: string; before?: number; limit?: number }

export type ClientFrame =
  | JoinFrame | LeaveFrame | SendFrame | PingFrame | PresenceRequestFrame | RefreshFrame
  | UpdateRequestFrame | TypingFrame | ReadFrame | PageRequestFrame;
export type ClientFrameType = ClientFrame['type'];

// ---------------------------------------------------------------- server → client

export interface WelcomeFrame {
  type: 'welcome'; connectionId: string; serverId: string; user: string; historyLimit: number; maxTextBytes: number;
}
/**
 * A stored chat message. `author`, `timestamp` and `seq` are set by the server. Reads show its
 * current state: `edited` (the last edit's time), `deleted` (then `text` is ""), `reactions`
 * (emoji → names, sorted; omitted when none).
 */
export interface MessageFrame {
  type: 'message'; channel: string; id: string; author: string; text: string; timestamp: number; seq: number;
  edited?: number; deleted?: true; reactions?: Record<string, string[]>;
}
/** A stored change of message `target`; `seq` is the update's own place in the channel's order. */
export interface UpdateFrame {
  type: 'update'; channel: string; seq: number; timestamp: number; author: string; id: string; target: number;
  action: UpdateAction; text?: string; emoji?: string;
}
/** What a channel's stream carries: messages and updates, one `seq` order. */
export type ChannelEvent = MessageFrame | UpdateFrame;
/**
 * Without `since`: the last messages. With `since`: every retained event after it. `read` is the
 * user's read marker, `unread` the messages by others after it (not deleted, up to 1000).
 */
export interface HistoryFrame {
  type: 'history'; channel: string; messages: ChannelEvent[]; seq: number; complete: boolean; read: number; unread: number;
}
/** An answer to `page`: messages with seq < `before`, oldest first; `more` when older ones remain. */
export interface PageFrame {
  type: 'page'; channel: string; before?: number; messages: MessageFrame[]; more: boolean;
}
/** Another member is typing. */
export interface TypingNoticeFrame { type: 'typing'; channel: string; user: string }
/** Read markers that moved (coalesced). */
export interface ReceiptsFrame { type: 'receipts'; channel: string; read: Record<string, number> }
/** A channel left: on request, or (`reason: "forbidden"`) because a refreshed token no longer permits it. */
export interface LeftFrame { type: 'left'; channel: string; reason?: 'forbidden' }
/** The answer to `refresh`: the connection now lives until `exp` (unix seconds). */
export interface RefreshedFrame { type: 'refreshed'; exp: number | null }
export interface AckFrame { type: 'ack'; id: string; channel: string }
export interface PongFrame { type: 'pong' }
/** Either the full member list (`users`) or a coalesced change (`joined`/`left`). */
export interface PresenceFrame {
  type: 'presence'; channel: string; users?: string[]; joined?: string[]; left?: string[];
}
export interface ErrorFrame {
  type: 'error'; code: ErrorCode; message: string; ref?: string; channel?: string; details?: string[];
}
export type ServerFrame =
  | WelcomeFrame | HistoryFrame | LeftFrame | AckFrame | PongFrame | PresenceFrame | MessageFrame | ErrorFrame | RefreshedFrame
  | UpdateFrame | PageFrame | TypingNoticeFrame | ReceiptsFrame;

// ---------------------------------------------------------------- validation

export type ParseResult = { ok: true; frame: ClientFrame } | { ok: false; error: ErrorFrame };

export interface ValidationLimits {
  /** Largest `text` in UTF-8 bytes (`MAX_TEXT_BYTES`). */
  maxTextBytes: number;
}

/** UTF-8 byte length of a JS string without allocating (works in the browser too). */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) { bytes += 4; i++; } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

export function isValidChannel(name: unknown): boolean {
  return typeof name === 'string' && CHANNEL_PATTERN.test(name);
}

/**
 * A UTF-16 surrogate without its pair (JSON allows "\ud800"): such text has no UTF-8 form, so it
 * is refused wherever a string is stored (text, emoji, id, user name).
 */
const LONE_SURROGATE = /[\ud800-\udfff]/u;
export function hasLoneSurrogate(text: string): boolean {
  return LONE_SURROGATE.test(text);
}

export function isValidUser(name: unknown): boolean {
  return typeof name === 'string' && USER_PATTERN.test(name) && name.trim().length > 0 && !hasLoneSurrogate(name);
}

export function errorFrame(code: ErrorCode, message: string, extra: Partial<ErrorFrame> = {}): ErrorFrame {
  const frame: ErrorFrame = { type: 'error', code, message };
  if (extra.ref !== undefined) frame.ref = extra.ref;
  if (extra.channel !== undefined) frame.channel = extra.channel;
  if (extra.details !== undefined) frame.details = extra.details;
  return frame;
}

/** Every client frame type the validator accepts. */
export const CLIENT_FRAME_TYPES: readonly ClientFrameType[] = [
  'join', 'leave', 'message', 'ping', 'presence', 'refresh', 'edit', 'delete', 'react', 'unreact', 'typing', 'read', 'page',
];

/** Control characters (C0, DEL, C1): not allowed in emoji. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

function isSeq(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1;
}

/**
 * Validates one inbound WebSocket frame. Every failure maps to one SPEC error code:
 * `bad_request` (with `details`) for anything malformed, `invalid_channel` for a well-typed but
 * bad channel name, `too_large` for text past `maxTextBytes`.
 */
export function parseClientFrame(data: string | Uint8Array, isBinary: boolean, limits: ValidationLimits): ParseResult {
  if (isBinary || typeof data !== 'string') {
    return bad(['binary frames are not accepted: send JSON as a text frame']);
  }
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch (err) {
    return bad([`not valid JSON: ${(err as Error).message}`]);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return bad(['a frame must be a JSON object with a "type" field']);
  }
  const obj = value as Record<string, unknown>;
  const ref = typeof obj.id === 'string' && obj.id.length <= MAX_ID_LENGTH ? obj.id : undefined;
  const type = obj.type;
  if (typeof type !== 'string') return bad(['"type" must be a string'], ref);
  if (!(CLIENT_FRAME_TYPES as readonly string[]).includes(type)) {
    return bad([`unknown type ${JSON.stringify(type.slice(0, 40))}: expected one of ${CLIENT_FRAME_TYPES.join(', ')}`], ref);
  }
  if (type === 'ping') return { ok: true, frame: { type: 'ping' } };
  if (type === 'refresh') {
    if (typeof obj.token !== 'string' || obj.token.length === 0 || obj.token.length > MAX_TOKEN_LENGTH) {
      return bad([`"token" must be a string of 1 to ${MAX_TOKEN_LENGTH} characters`], ref);
    }
    return { ok: true, frame: { type: 'refresh', token: obj.token } };
  }

  const details: string[] = [];
  const channel = obj.channel;
  if (typeof channel !== 'string') details.push('"channel" must be a string');

  let since: number | undefined;
  let text: string | undefined;
  let id: string | undefined;
  const optionalInt = (field: string, min: number, max: number): number | undefined => {
    const v = obj[field];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
      details.push(max === Number.MAX_SAFE_INTEGER ? `"${field}" must be an integer of at least ${min}` : `"${field}" must be an integer from ${min} to ${max}`);
      return undefined;
    }
    return v;
  };
  if (type === 'join' && obj.since !== undefined && obj.since !== null) {
    if (typeof obj.since !== 'number' || !Number.isSafeInteger(obj.since) || obj.since < 0) {
      details.push('"since" must be a non-negative integer');
    } else since = obj.since;
  }
  const changes = type === 'message' || type === 'edit' || type === 'delete' || type === 'react' || type === 'unreact';
  if (type === 'message' || type === 'edit') {
    if (typeof obj.text !== 'string') details.push('"text" must be a string');
    else if (obj.text.length === 0) details.push('"text" must not be empty');
    else if (hasLoneSurrogate(obj.text)) details.push('"text" must be valid Unicode (it has a lone UTF-16 surrogate)');
    else text = obj.text;
  }
  if (changes && obj.id !== undefined && obj.id !== null) {
    if (typeof obj.id !== 'string' || obj.id.length === 0 || obj.id.length > MAX_ID_LENGTH || hasLoneSurrogate(obj.id)) {
      details.push(`"id" must be a string of 1 to ${MAX_ID_LENGTH} characters of valid Unicode`);
    } else id = obj.id;
  }
  let seq: number | undefined;
  if (changes && type !== 'message') {
    if (!isSeq(obj.seq)) details.push('"seq" must be the target message\'s seq: an integer of at least 1');
    else seq = obj.seq;
  }
  if (type === 'read') {
    if (typeof obj.seq !== 'number' || !Number.isSafeInteger(obj.seq) || obj.seq < 0) details.push('"seq" must be a non-negative integer');
    else seq = obj.seq;
  }
  let emoji: string | undefined;
  if (type === 'react' || type === 'unreact') {
    if (typeof obj.emoji !== 'string' || obj.emoji.length === 0) details.push('"emoji" must be a non-empty string');
    else if (utf8Length(obj.emoji) > MAX_EMOJI_BYTES) details.push(`"emoji" must be at most ${MAX_EMOJI_BYTES} UTF-8 bytes`);
    else if (CONTROL.test(obj.emoji) || hasLoneSurrogate(obj.emoji)) details.push('"emoji" must not contain control characters or lone surrogates');
    else emoji = obj.emoji;
  }
  let before: number | undefined;
  let limit: number | undefined;
  if (type === 'page') {
    before = optionalInt('before', 1, Number.MAX_SAFE_INTEGER);
    limit = optionalInt('limit', 1, MAX_PAGE_LIMIT);
  }
  const channelHint = typeof channel === 'string' ? channel.slice(0, 80) : undefined;
  if (details.length > 0) return bad(details, ref, channelHint);
  const name = channel as string;
  if (!CHANNEL_PATTERN.test(name)) {
    return {
      ok: false,
      error: errorFrame(ErrorCode.InvalidChannel,
        'channel names are 1-64 characters: a letter or digit, then letters, digits, "_", ".", ":" or "-"',
        { ref, channel: channelHint }),
    };
  }
  if (text !== undefined) {
    const bytes = utf8Length(text);
    if (bytes > limits.maxTextBytes) {
      return {
        ok: false,
        error: errorFrame(ErrorCode.TooLarge,
          `text is ${bytes} bytes; the limit is ${limits.maxTextBytes} UTF-8 bytes`, { ref, channel: name }),
      };
    }
  }
  const withId = <F extends { id?: string }>(frame: F): F => { if (id !== undefined) frame.id = id; return frame; };
  switch (type) {
    case 'join':
      return { ok: true, frame: since === undefined ? { type, channel: name } : { type, channel: name, since } };
    case 'leave':
    case 'presence':
    case 'typing':
      return { ok: true, frame: { type, channel: name } };
    case 'message':
      return { ok: true, frame: withId<SendFrame>({ type, channel: name, text: text as string }) };
    case 'edit':
      return { ok: true, frame: withId<EditFrame>({ type, channel: name, seq: seq as number, text: text as string }) };
    case 'delete':
      return { ok: true, frame: withId<DeleteFrame>({ type, channel: name, seq: seq as number }) };
    case 'react':
    case 'unreact':
      return { ok: true, frame: withId<ReactFrame>({ type, channel: name, seq: seq as number, emoji: emoji as string }) };
    case 'read':
      return { ok: true, frame: { type, channel: name, seq: seq as number } };
    case 'page': {
      const frame: PageRequestFrame = { type, channel: name };
      if (before !== undefined) frame.before = before;
      if (limit !== undefined) frame.limit = limit;
      return { ok: true, frame };
    }
    default:
      // Unreachable: ping and refresh were answered above, CLIENT_FRAME_TYPES checked.
      return bad([`unexpected type ${JSON.stringify(type)}`], ref);
  }
}

function bad(details: string[], ref?: string, channel?: string): ParseResult {
  return {
    ok: false,
    error: errorFrame(ErrorCode.BadRequest, `malformed frame: ${details[0]}`, { ref, channel, details }),
  };
}
