/**
 * Prometheus metrics plumbing shared by push servers and workers (prom-client): one registry per
 * process with the default process metrics, and the text exposition.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Registry } from 'prom-client';

export { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Latency buckets in seconds, from 0.5 ms to 5 s. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export function createRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * Serves `GET /metrics` (and `GET /health`, and `GET /ready` when `ready` is given: 200, or 503
 * with the reason it returns) for one registry on its own port (0 picks one): workers have no
 * other HTTP port, and push servers under pm2 cluster mode share theirs.
 */
export async function serveMetrics(
  registry: Registry, port: number, host: string, ready?: () => string | undefined,
): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      registry.metrics().then((text) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(text);
      }, (err: Error) => { res.writeHead(503); res.end(`${err.message}\n`); });
      return;
    }
    if (req.url === '/health') { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"status":"ok"}'); return; }
    if (req.url === '/ready' && ready) {
      const reason = ready();
      res.writeHead(reason === undefined ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify(reason === undefined ? { status: 'ready' } : { status: 'unavailable', reason }));
      return;
    }
    res.writeHead(404);
    res.end('not found: try /metrics\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}
