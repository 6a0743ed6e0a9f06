/** Raw WebSocket attempts, for checks on the upgrade itself (status codes before any socket). */
import WebSocket from 'ws';

export type UpgradeOutcome = { opened: true; ws: WebSocket; welcome: Record<string, unknown> } | { opened: false; status: number; body: string };

export function tryConnect(url: string, headers: Record<string, string> = {}, options: { localAddress?: string } = {}): Promise<UpgradeOutcome> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, ...options });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve({ opened: false, status: res.statusCode ?? 0, body }));
    });
    ws.once('message', (data) => resolve({ opened: true, ws, welcome: JSON.parse(String(data)) as Record<string, unknown> }));
    ws.once('error', (err) => { if (ws.readyState !== WebSocket.CLOSED) return; reject(err); });
  });
}
