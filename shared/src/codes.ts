/**
 * Every error code and WebSocket close code the chat protocol uses, in one place.
 * Each comment says who sends it and when.
 */

/** Codes carried by `{"type":"error","code":…}` frames (SPEC §3). */
export const ErrorCode = {
  /** Server → client: not JSON, unknown type, wrong field types, or a binary frame. Carries `details`. */
  BadRequest: 'bad_request',
  /** Server → client: the channel name does not match `^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$`. */
  InvalidChannel: 'invalid_channel',
  /** Server → client: another live connection holds this name in the channel. */
  NameTaken: 'name_taken',
  /** Server → client: `message`, `leave` or `presence` for a channel the connection has not joined. */
  NotJoined: 'not_joined',
  /** Server → client: the text is longer than `MAX_TEXT_BYTES` UTF-8 bytes. */
  TooLarge: 'too_large',
  /** Server → client: the connection's token bucket (`RATE_LIMIT`) is empty; the message was not enqueued. */
  RateLimited: 'rate_limited',
  /** Server → client: a `refresh` token that is not valid, not newer, or for another user. */
  Unauthorized: 'unauthorized',
  /** Server → client: the token's claims (and the application's hook) do not permit this channel or this write. */
  Forbidden: 'forbidden',
  /** Server → client: the message an update names is not retained, or is not a message. */
  NotFound: 'not_found',
  /** Server → client: the queue or Redis cannot take the message now; retry later with the same id. */
  Overloaded: 'overloaded',
  /** Server → client: an unexpected failure on the server; the frame may be retried with the same id. */
  Internal: 'internal',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export const ERROR_CODES: readonly ErrorCode[] = Object.values(ErrorCode);

/** WebSocket close codes the push server uses. */
export const CloseCode = {
  /** Normal closure requested by either side. */
  Normal: 1000,
  /** Server going away (draining on SIGTERM): reconnect elsewhere and resume with `since`. */
  GoingAway: 1001,
  /** Policy violation: the client keeps flooding past its rate limit. */
  PolicyViolation: 1008,
  /** A frame larger than the server's payload limit (sent by `ws` itself). */
  MessageTooBig: 1009,
  /** Try again later: the client does not read and its send buffer passed the bound. */
  TryAgainLater: 1013,
  /** The token expired and no valid `refresh` came in time: connect again with a new token. */
  TokenExpired: 4001,
  /** Disconnected through the server API (`POST /api/users/:name/disconnect`). */
  Disconnected: 4003,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];
