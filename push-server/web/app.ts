/**
 * The chat page: wires the form, the message log and the presence list to a ChatSession.
 * Every piece of user text goes into the DOM through textContent, never as HTML.
 */
import type { ErrorFrame, MessageFrame } from '@chat/shared/protocol';
import { CHANNEL_PATTERN, isValidUser } from '@chat/shared/protocol';
import { ChatSession, type SessionState } from './chat-session.js';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const nameInput = $<HTMLInputElement>('name');
const channelInput = $<HTMLInputElement>('channel');
const statusEl = $('status');
const logEl = $('log');
const noticeEl = $('notice');
const presenceEl = $('presence');
const peopleCount = $('people-count');
const textInput = $<HTMLInputElement>('text');
const sendButton = $<HTMLButtonElement>('send');
const errorEl = $('error');

const params = new URLSearchParams(location.search);
const ownServer = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`;
// `?servers=ws://a:8080,ws://b:8080` lists fallbacks to reconnect to when this server is gone.
const servers = [ownServer, ...(params.get('servers') ?? '').split(',').map((s) => s.trim()).filter((s) => s && s !== ownServer)];
let session: ChatSession | undefined;
let me = '';

nameInput.value = params.get('user') ?? localStorage.getItem('chat.name') ?? '';
channelInput.value = params.get('channel') ?? 'general';

const ERROR_TEXT: Record<string, string> = {
  rate_limited: 'You are sending too fast: wait a moment.',
  too_large: 'That message is too long.',
  name_taken: 'Someone in this channel already uses that name: pick another one.',
  invalid_channel: 'Channel names use letters, digits and _ . : - (up to 64).',
  overloaded: 'The server is busy: your message was not sent, try again.',
  unauthorized: 'You are not signed in.',
};

function showError(text: string): void {
  errorEl.textContent = text;
  errorEl.hidden = text === '';
}

function setState(state: SessionState | 'error', detail: string): void {
  const label: Record<string, string> = {
    connecting: 'Connecting…', connected: 'Connected', reconnecting: 'Reconnecting…', stopped: 'Not connected', error: 'Stopped',
  };
  statusEl.dataset.state = state;
  statusEl.textContent = label[state] ?? state;
  statusEl.title = detail;
  const usable = state === 'connected' || state === 'reconnecting';
  textInput.disabled = !usable;
  sendButton.disabled = !usable;
}

function time(ts: number): string {
  return new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function appendMessage(m: MessageFrame): void {
  document.querySelector(`li.pending[data-id="${CSS.escape(m.id)}"]`)?.remove();
  const li = document.createElement('li');
  li.dataset.seq = String(m.seq);
  li.dataset.id = m.id;
  if (m.author === me) li.classList.add('mine');
  const meta = document.createElement('time');
  meta.className = 'meta';
  meta.dateTime = new Date(m.timestamp).toISOString();
  meta.textContent = time(m.timestamp);
  const author = document.createElement('span');
  author.className = 'author';
  author.textContent = m.author;
  const text = document.createElement('span');
  text.className = 'text';
  text.textContent = m.text;
  li.append(meta, author, text);
  const atBottom = logEl.scrollHeight - logEl.scrollTop - logEl.clientHeight < 40;
  logEl.append(li);
  if (atBottom) li.scrollIntoView({ block: 'end' });
}

function appendPending(id: string, text: string): void {
  const li = document.createElement('li');
  li.className = 'pending mine';
  li.dataset.id = id;
  const author = document.createElement('span');
  author.className = 'author';
  author.textContent = me;
  const body = document.createElement('span');
  body.className = 'text';
  body.textContent = text;
  li.append(author, body);
  logEl.append(li);
  li.scrollIntoView({ block: 'end' });
}

function renderPresence(users: string[]): void {
  presenceEl.replaceChildren(...users.map((u) => {
    const li = document.createElement('li');
    li.textContent = u === me ? `${u} (you)` : u;
    return li;
  }));
  peopleCount.textContent = `(${users.length})`;
}

$<HTMLFormElement>('join-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const user = nameInput.value.trim();
  const channel = channelInput.value.trim();
  if (!isValidUser(user)) { showError('Pick a name of 1 to 64 characters.'); nameInput.focus(); return; }
  if (!CHANNEL_PATTERN.test(channel)) { showError(ERROR_TEXT.invalid_channel as string); channelInput.focus(); return; }
  showError('');
  session?.stop();
  me = user;
  localStorage.setItem('chat.name', user);
  const url = new URL(location.href);
  url.searchParams.set('channel', channel);
  history.replaceState(null, '', url);
  document.title = `#${channel} · Chat`;
  logEl.replaceChildren();
  noticeEl.hidden = true;
  renderPresence([]);
  const token = params.get('token') ?? undefined;
  // `tokenUrl`: the application's endpoint that answers a fresh token (text, or JSON {"token"}).
  const tokenUrl = params.get('tokenUrl');
  const getToken = tokenUrl ? async (): Promise<string> => {
    const res = await fetch(tokenUrl); // same-origin cookies go along; another origin must allow CORS
    if (!res.ok) throw new Error(`the token endpoint answered ${res.status}`);
    const body = (await res.text()).trim();
    return body.startsWith('{') ? (JSON.parse(body) as { token: string }).token : body;
  } : undefined;
  session = new ChatSession({ user, channel, servers, ...(token ? { token } : {}), ...(getToken ? { getToken } : {}) }, {
    state: setState,
    message: appendMessage,
    gap: () => { noticeEl.textContent = 'Some older messages are no longer available.'; noticeEl.hidden = false; },
    presence: renderPresence,
    rejected: (id: string | undefined, error: ErrorFrame) => {
      if (id) document.querySelector(`li.pending[data-id="${CSS.escape(id)}"]`)?.remove();
      showError(ERROR_TEXT[error.code] ?? error.message);
    },
    fatal: (error: ErrorFrame) => { setState('error', error.message); showError(ERROR_TEXT[error.code] ?? error.message); nameInput.focus(); },
  });
  session.start();
  textInput.focus();
});

$<HTMLFormElement>('send-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = textInput.value;
  if (!session || text.trim() === '') return;
  showError('');
  const id = session.send(text);
  appendPending(id, text);
  textInput.value = '';
});

if (params.get('join') === '1' && nameInput.value && channelInput.value) {
  $<HTMLFormElement>('join-form').requestSubmit();
}
