/**
 * The chat page, built only on the client library (@chat/client): a sidebar of joined channels
 * with unread badges, the current channel's messages rendered from its live model (edits,
 * deletes and reactions applied; older pages loaded on scroll-up), who is typing, "seen by" on
 * one's last message, presence with direct messages, and the connection's state. Every piece of
 * user text goes into the DOM through textContent, never as HTML.
 */
import { Chat, ChatError, type Channel, type ErrorFrame, type MessageFrame } from '@chat/client';
import { CHANNEL_PATTERN, isValidUser } from '@chat/shared/protocol';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const nameInput = $<HTMLInputElement>('name');
const channelInput = $<HTMLInputElement>('channel');
const statusEl = $('status');
const channelsEl = $('channels');
const titleEl = $('room-title');
const logEl = $('log');
const noticeEl = $('notice');
const typingEl = $('typing');
const presenceEl = $('presence');
const peopleCount = $('people-count');
const textInput = $<HTMLInputElement>('text');
const sendButton = $<HTMLButtonElement>('send');
const editingEl = $('editing');
const errorEl = $('error');

const params = new URLSearchParams(location.search);
const ownServer = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`;
// `?servers=ws://a:8080,ws://b:8080` lists fallbacks to reconnect to when this server is gone.
const servers = [ownServer, ...(params.get('servers') ?? '').split(',').map((s) => s.trim()).filter((s) => s && s !== ownServer)];
const REACTIONS = ['👍', '🎉', '❤️'];

let chat: Chat | undefined;
let me = '';
let current: Channel | undefined;
/** Channels shown in the sidebar, in the order joined. */
const joined: Channel[] = [];
/** Sends not yet acknowledged, per channel: id → text (shown greyed until the message arrives). */
const pending = new Map<string, Map<string, string>>();
let editingSeq: number | undefined;

nameInput.value = params.get('user') ?? localStorage.getItem('chat.name') ?? '';
channelInput.value = params.get('channel') ?? 'general';

const ERROR_TEXT: Record<string, string> = {
  rate_limited: 'You are sending too fast: wait a moment.',
  too_large: 'That message is too long.',
  name_taken: 'Someone in this channel already uses that name: pick another one.',
  invalid_channel: 'Channel names use letters, digits and _ . : - (up to 64).',
  overloaded: 'The server is busy: your message will be sent again in a moment.',
  unauthorized: 'You are not signed in.',
  forbidden: 'You may not do that here.',
  not_found: 'That message is gone.',
};

function showError(text: string): void {
  errorEl.textContent = text;
  errorEl.hidden = text === '';
}

function setState(state: string, detail: string): void {
  const label: Record<string, string> = {
    connecting: 'Connecting…', connected: 'Connected', reconnecting: 'Reconnecting…', disconnected: 'Not connected', error: 'Stopped',
  };
  statusEl.dataset.state = state;
  statusEl.textContent = label[state] ?? state;
  statusEl.title = detail;
  const usable = (state === 'connected' || state === 'reconnecting') && current !== undefined;
  textInput.disabled = !usable;
  sendButton.disabled = !usable;
}

function time(ts: number): string {
  return new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function button(label: string, title: string, onClick: () => void, className = ''): HTMLButtonElement {
  const b = el('button', className, label);
  b.type = 'button';
  b.title = title;
  b.addEventListener('click', onClick);
  return b;
}

/** One stored message, in its current state. */
function messageItem(ch: Channel, m: MessageFrame, lastMine: number): HTMLLIElement {
  const li = el('li', m.author === me ? 'mine' : '');
  li.dataset.seq = String(m.seq);
  li.dataset.id = m.id;
  const meta = el('time', 'meta', time(m.timestamp));
  meta.dateTime = new Date(m.timestamp).toISOString();
  li.append(meta, el('span', 'author', m.author));
  if (m.deleted) {
    li.classList.add('deleted');
    li.append(el('span', 'text', 'message deleted'));
    return li;
  }
  li.append(el('span', 'text', m.text));
  if (m.edited) li.append(el('span', 'edited', '(edited)'));
  if (m.author === me) {
    const actions = el('span', 'actions');
    actions.append(
      button('Edit', 'Edit this message', () => startEdit(m)),
      button('Delete', 'Delete this message', () => { ch.delete(m.seq).catch(report); }),
    );
    li.append(actions);
  }
  const reactions = el('span', 'reactions');
  const emojis = [...new Set([...REACTIONS, ...Object.keys(m.reactions ?? {})])];
  for (const emoji of emojis) {
    const names = m.reactions?.[emoji] ?? [];
    const mine = names.includes(me);
    const b = button(names.length > 0 ? `${emoji} ${names.length}` : emoji, names.length > 0 ? names.join(', ') : `React with ${emoji}`, () => {
      (mine ? ch.unreact(m.seq, emoji) : ch.react(m.seq, emoji)).catch(report);
    }, mine ? 'mine' : '');
    b.dataset.emoji = emoji;
    reactions.append(b);
  }
  li.append(reactions);
  if (m.seq === lastMine) {
    const seen = ch.seenBy(m.seq);
    if (seen.length > 0) li.append(el('span', 'seen', `seen by ${seen.join(', ')}`));
  }
  return li;
}

function renderLog(): void {
  const ch = current;
  if (!ch) { logEl.replaceChildren(); return; }
  const atBottom = logEl.scrollHeight - logEl.scrollTop - logEl.clientHeight < 40;
  const oldHeight = logEl.scrollHeight;
  const oldTop = logEl.scrollTop;
  const lastMine = [...ch.messages].reverse().find((m) => m.author === me && !m.deleted)?.seq ?? -1;
  const items = ch.messages.map((m) => messageItem(ch, m, lastMine));
  const shown = new Set(ch.messages.map((m) => m.id));
  for (const [id, text] of pending.get(ch.name) ?? []) {
    if (shown.has(id)) { pending.get(ch.name)?.delete(id); continue; }
    const li = el('li', 'pending mine');
    li.dataset.id = id;
    li.append(el('span', 'author', me), el('span', 'text', text));
    items.push(li);
  }
  logEl.replaceChildren(...items);
  if (atBottom) logEl.scrollTop = logEl.scrollHeight;
  else logEl.scrollTop = oldTop + (logEl.scrollHeight - oldHeight > 0 && oldTop < 5 ? logEl.scrollHeight - oldHeight : 0);
  if (atBottom && document.visibilityState === 'visible') ch.markRead();
}

function renderPresence(): void {
  const users = current ? [...current.presence].sort((a, b) => a.localeCompare(b)) : [];
  presenceEl.replaceChildren(...users.map((u) => {
    const li = el('li', '');
    if (u === me) { li.textContent = `${u} (you)`; return li; }
    li.append(button(u, `Direct message with ${u}`, () => openChannel(dmChannel(u))));
    return li;
  }));
  peopleCount.textContent = `(${users.length})`;
}

function renderTyping(): void {
  const who = current?.typingUsers ?? [];
  typingEl.textContent = who.length === 0 ? '' : `${who.join(', ')} ${who.length === 1 ? 'is' : 'are'} typing…`;
}

function renderChannels(): void {
  channelsEl.replaceChildren(...joined.map((ch) => {
    const li = el('li', ch === current ? 'current' : '');
    li.dataset.channel = ch.name;
    const b = button('', `Open #${ch.name}`, () => show(ch));
    b.append(el('span', 'name', `#${ch.name}`));
    const badge = el('span', 'badge', String(ch.unread));
    badge.hidden = ch.unread === 0 || ch === current;
    b.append(badge);
    li.append(b);
    return li;
  }));
}

/** A direct message channel between this user and `other` (the token must permit it). */
function dmChannel(other: string): string {
  const pair = [me, other].sort();
  return `dm:${pair.join(':')}`.slice(0, 64).replace(/[^A-Za-z0-9_.:-]/g, '_');
}

function show(ch: Channel): void {
  current = ch;
  cancelEdit();
  titleEl.textContent = `#${ch.name}`;
  document.title = `#${ch.name} · Chat`;
  const url = new URL(location.href);
  url.searchParams.set('channel', ch.name);
  history.replaceState(null, '', url);
  noticeEl.hidden = true;
  renderLog();
  logEl.scrollTop = logEl.scrollHeight;
  renderPresence();
  renderTyping();
  renderChannels();
  setState(chat?.state ?? 'disconnected', statusEl.title);
  textInput.focus();
}

function openChannel(name: string): void {
  if (!chat) return;
  const ch = chat.channel(name);
  if (!joined.includes(ch)) {
    joined.push(ch);
    pending.set(name, new Map());
    ch.on('change', (kinds) => {
      if (ch === current) {
        if (kinds.includes('messages') || kinds.includes('receipts')) renderLog();
        if (kinds.includes('presence')) renderPresence();
        if (kinds.includes('typing')) renderTyping();
      }
      if (kinds.includes('unread') || kinds.includes('messages')) renderChannels();
    });
    ch.on('error', (e: ErrorFrame) => { if (ch === current) showError(ERROR_TEXT[e.code] ?? e.message); });
    ch.join().catch((err: ChatError) => {
      const frame = err.frame;
      if (frame?.code === 'name_taken') { setState('error', frame.message); nameInput.focus(); }
      showError(ERROR_TEXT[err.code] ?? err.message);
    });
  }
  show(ch);
}

function report(err: ChatError): void {
  showError(ERROR_TEXT[err.code] ?? err.message);
}

function startEdit(m: MessageFrame): void {
  editingSeq = m.seq;
  textInput.value = m.text;
  editingEl.hidden = false;
  textInput.focus();
}

function cancelEdit(): void {
  editingSeq = undefined;
  editingEl.hidden = true;
}

function connect(user: string): Chat {
  const token = params.get('token') ?? undefined;
  // `tokenUrl`: the application's endpoint that answers a fresh token (text, or JSON {"token"}).
  const tokenUrl = params.get('tokenUrl');
  let first = token;
  const getToken = tokenUrl || token ? async (): Promise<string> => {
    if (first) { const t = first; first = undefined; return t; }
    if (!tokenUrl) return token as string;
    const res = await fetch(tokenUrl); // same-origin cookies go along; another origin must allow CORS
    if (!res.ok) throw new Error(`the token endpoint answered ${res.status}`);
    const body = (await res.text()).trim();
    return body.startsWith('{') ? (JSON.parse(body) as { token: string }).token : body;
  } : undefined;
  const c = new Chat({ urls: servers, ...(getToken ? { getToken } : { user }) });
  c.on('state', (s) => {
    if (statusEl.dataset.state === 'error' && s.state === 'connected') return;
    setState(s.state, `${s.reason}${c.serverId ? ` (push server ${c.serverId})` : ''}`);
  });
  c.on('error', (e) => showError(ERROR_TEXT[e.code] ?? e.message));
  return c;
}

$<HTMLFormElement>('join-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const user = nameInput.value.trim();
  const channel = channelInput.value.trim();
  if (!isValidUser(user)) { showError('Pick a name of 1 to 64 characters.'); nameInput.focus(); return; }
  if (!CHANNEL_PATTERN.test(channel)) { showError(ERROR_TEXT.invalid_channel as string); channelInput.focus(); return; }
  showError('');
  if (!chat || user !== me) {
    // A new name is a new session: leave everything behind.
    void chat?.close();
    joined.length = 0;
    pending.clear();
    current = undefined;
    me = user;
    localStorage.setItem('chat.name', user);
    chat = connect(user);
    chat.connect().catch((err: Error) => showError(err.message));
  }
  openChannel(channel);
});

$<HTMLFormElement>('send-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = textInput.value;
  const ch = current;
  if (!ch || text.trim() === '') return;
  showError('');
  textInput.value = '';
  if (editingSeq !== undefined) {
    const seq = editingSeq;
    cancelEdit();
    ch.edit(seq, text).catch(report);
    return;
  }
  const id = `p${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  pending.get(ch.name)?.set(id, text);
  renderLog();
  ch.send(text, id).catch((err: ChatError) => {
    pending.get(ch.name)?.delete(id);
    renderLog();
    report(err);
  });
});

textInput.addEventListener('input', () => current?.typing());
textInput.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && editingSeq !== undefined) { cancelEdit(); textInput.value = ''; }
});
// Scrolled to the top: load older messages (infinite scroll-back).
logEl.addEventListener('scroll', () => {
  const ch = current;
  if (ch && logEl.scrollTop < 5 && ch.more && ch.ready) ch.page().catch(() => undefined);
  if (ch && logEl.scrollHeight - logEl.scrollTop - logEl.clientHeight < 40) ch.markRead();
});
document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') renderLog(); });

if (params.get('join') === '1' && nameInput.value && channelInput.value) {
  $<HTMLFormElement>('join-form').requestSubmit();
}
