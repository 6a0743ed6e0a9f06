export { Chat, Channel, type ChatOptions, type ChatState, type StateChange } from './chat.js';
export { ChannelModel, TYPING_SHOWN_MS, type ChangeKind } from './channel-model.js';
export { backoffDelay, type BackoffOptions } from './backoff.js';
export { ChatError } from '@chat/shared/client';
export type { MessageFrame, UpdateFrame, HistoryFrame, PageFrame, ErrorFrame, AckFrame } from '@chat/shared/protocol';
