import WebSocket from 'ws';
import { ChatClient } from '/work/main/shared/dist/client.js';
const c = await ChatClient.connect('ws://127.0.0.1:8092', { socket: (u) => new WebSocket(u), user: 'alice' });
await c.join('x');
await new Promise(r => setTimeout(r, 1000));
