/**
 * The page served at `/`. A minimal, working chat page: pick a name and channel, see history and
 * live messages, send with Enter. Text is always inserted as text, never as HTML.
 */
export const CHAT_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Chat</title>
<style>
  body { font: 16px/1.4 system-ui, sans-serif; margin: 0; display: flex; flex-direction: column; height: 100vh; }
  header, footer { padding: .5rem; background: #f3f4f6; display: flex; gap: .5rem; flex-wrap: wrap; }
  #log { flex: 1; overflow-y: auto; padding: .5rem; margin: 0; list-style: none; }
  #log li { margin: .2rem 0; }
  .meta { color: #6b7280; font-size: .85em; margin-right: .4rem; }
  #text { flex: 1; min-width: 8rem; }
  #state { margin-left: auto; color: #6b7280; }
</style>
</head>
<body>
<header>
  <label>Name <input id="user" autocomplete="nickname"></label>
  <label>Channel <input id="channel" value="general"></label>
  <button id="connect">Join</button>
  <span id="state" role="status">disconnected</span>
</header>
<ul id="log" role="log" aria-live="polite" aria-label="Messages"></ul>
<footer>
  <input id="text" aria-label="Message" placeholder="Type a message and press Enter" disabled>
</footer>
<script>
(() => {
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  $('channel').value = params.get('channel') || 'general';
  $('user').value = params.get('user') || 'guest-' + Math.random().toString(36).slice(2, 6);
  let ws, channel, lastSeq = 0;
  function line(meta, text) {
    const li = document.createElement('li');
    const m = document.createElement('span'); m.className = 'meta'; m.textContent = meta;
    li.append(m, document.createTextNode(text));
    $('log').append(li); li.scrollIntoView({ block: 'end' });
  }
  function show(msg) {
    if (msg.seq <= lastSeq) return;
    lastSeq = msg.seq;
    line(new Date(msg.timestamp).toLocaleTimeString() + ' ' + msg.author + ':', msg.text);
  }
  $('connect').onclick = () => {
    if (ws) ws.close();
    channel = $('channel').value.trim(); lastSeq = 0; $('log').textContent = '';
    const url = new URL('/ws', location.href); url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('user', $('user').value.trim());
    ws = new WebSocket(url);
    $('state').textContent = 'connecting';
    ws.onopen = () => { ws.send(JSON.stringify({ type: 'join', channel })); };
    ws.onclose = () => { $('state').textContent = 'disconnected'; $('text').disabled = true; };
    ws.onmessage = (e) => {
      const f = JSON.parse(e.data);
      if (f.type === 'history') { f.messages.forEach(show); lastSeq = Math.max(lastSeq, f.seq); $('state').textContent = 'connected'; $('text').disabled = false; }
      else if (f.type === 'message' && f.channel === channel) show(f);
      else if (f.type === 'error') line('error:', f.code + ': ' + f.message);
    };
  };
  $('text').onkeydown = (e) => {
    if (e.key !== 'Enter' || !$('text').value) return;
    ws.send(JSON.stringify({ type: 'message', channel, text: $('text').value }));
    $('text').value = '';
  };
})();
</script>
</body>
</html>
`;
