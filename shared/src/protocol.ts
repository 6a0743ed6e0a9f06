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
/** A `join` with `since` returns at most this many messages (`complete:false` when cut). */
export const MAX_SINCE_MESSAGES = 1000;

// ---------------------------------------------------------------- client → server

export interface JoinFrame { type: 'join'; channel: string; since?: number }
export interface LeaveFrame { type: 'leave'; channel: string }
export interface SendFrame { type: 'message'; channel: string; text: string; id?: string }
export interface PingFrame { type: 'ping' }
export interface PresenceRequestFrame { type: 'presence'; channel: string }
/** A newer token for the same user, sent before the current one expires (SPEC §7). */
export interface RefreshFrame { type: 'refresh'; token: string }
export type ClientFrame = JoinFrame | LeaveFrame | SendFrame | PingFrame | PresenceRequestFrame | RefreshFrame;
export type ClientFrameType = ClientFrame['type'];

// ---------------------------------------------------------------- server → client

export interface WelcomeFrame {
  type: 'welcome'; connectionId: string; serverId: string; user: string; historyLimit: number; maxTextBytes: number;
}
/** A stored chat message as every member receives it. `author`, `timestamp` and `seq` are set by the server. */
export interface MessageFrame {
  type: 'message'; channel: string; id: string; author: string; text: string; timestamp: number; seq: number;
}
export interface HistoryFrame {
  type: 'history'; channel: string; messages: MessageFrame[]; seq: number; complete: boolean;
}
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
  | WelcomeFrame | HistoryFrame | LeftFrame | AckFrame | PongFrame | PresenceFrame | MessageFrame | ErrorFrame | RefreshedFrame;

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

export function isValidUser(name: unknown): boolean {
  return typeof name === 'string' && USER_PATTERN.test(name) && name.trim().length > 0;
}

export function errorFrame(code: ErrorCode, message: string, extra: Partial<ErrorFrame> = {}): ErrorFrame {
  const frame: ErrorFrame = { type: 'error', code, message };
  if (extra.ref !== undefined) frame.ref = extra.ref;
  if (extra.channel !== undefined) frame.channel = extra.channel;
  if (extra.details !== undefined) frame.details = extra.details;
  return frame;
}

const KNOWN_TYPES: readonly ClientFrameType[] = ['join', 'leave', 'message', 'ping', 'presence', 'refresh'];

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
  if (!(KNOWN_TYPES as readonly string[]).includes(type)) {
    return bad([`unknown type ${JSON.stringify(type.slice(0, 40))}: expected one of ${KNOWN_TYPES.join(', ')}`], ref);
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
  if (type === 'join' && obj.since !== undefined && obj.since !== null) {
    if (typeof obj.since !== 'number' || !Number.isSafeInteger(obj.since) || obj.since < 0) {
      details.push('"since" must be a non-negative integer');
    } else since = obj.since;
  }
  if (type === 'message') {
    if (typeof obj.text !== 'string') details.push('"text" must be a string');
    else if (obj.text.length === 0) details.push('"text" must not be empty');
    else text = obj.text;
    if (obj.id !== undefined && obj.id !== null) {
      if (typeof obj.id !== 'string' || obj.id.length === 0 || obj.id.length > MAX_ID_LENGTH) {
        details.push(`"id" must be a string of 1 to ${MAX_ID_LENGTH} characters`);
      } else id = obj.id;
    }
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
  switch (type) {
    case 'join':
      return { ok: true, frame: since === undefined ? { type, channel: name } : { type, channel: name, since } };
    case 'leave':
    case 'presence':
      return { ok: true, frame: { type, channel: name } };
    case 'ping':
    case 'refresh':
      // Unreachable: answered before the channel checks.
      return bad([`unexpected ${type}`], ref);
    case 'message': {
      const bytes = utf8Length(text as string);
      if (bytes > limits.maxTextBytes) {
        return {
          ok: false,
          error: errorFrame(ErrorCode.TooLarge,
            `text is ${bytes} bytes; the limit is ${limits.maxTextBytes} UTF-8 bytes`, { ref, channel: name }),
        };
      }
      const frame: SendFrame = { type, channel: name, text: text as string };
      if (id !== undefined) frame.id = id;
      return { ok: true, frame };
    }
    default:
      // Unreachable: KNOWN_TYPES was checked above.
      return bad([`unknown type ${JSON.stringify(type)}`], ref);
  }
}

function bad(details: string[], ref?: string, channel?: string): ParseResult {
  return {
    ok: false,
    error: errorFrame(ErrorCode.BadRequest, `malformed frame: ${details[0]}`, { ref, channel, details }),
  };
}
