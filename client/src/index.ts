export { Chat, Channel, type ChatOptions, type ChatState, type StateChange } from './chat.js';
export { ChannelModel, TYPING_SHOWN_MS, type ChangeKind } from './channel-model.js';
export { backoffDelay, type BackoffOptions } from './backoff.js';
export { ChatError } from '@chat/shared/client';
/**
 * The single-socket protocol client `Chat` is built on: one connection, requests matched to
 * answers, no reconnect. For tools that manage connections themselves (load generators, tests).
 */
export { ChatClient, type ConnectOptions, type SocketFactory, type SocketLike } from '@chat/shared/client';
export type { MessageFrame, UpdateFrame, HistoryFrame, PageFrame, ErrorFrame, AckFrame } from '@chat/shared/protocol';
