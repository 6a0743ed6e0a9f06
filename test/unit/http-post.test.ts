/**
 * The webhook dispatcher's HTTP client against a real local server: the status of a whole answer,
 * a timeout for an endpoint that never answers, an error (not a hang) for an answer cut off
 * midway, and one kept-alive connection for requests in a row.
 */
import { expect } from 'chai';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpPoster, TimeoutError } from '@chat/queue-worker';

describe('webhook HTTP client', function () {
  let server: Server;
  let url: string;
  let handle: (req: IncomingMessage, res: ServerResponse) => void;
  let connections = 0;
  const bodies: string[] = [];
  before(async function () {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => { body += d.toString(); });
      req.on('end', () => { bodies.push(body); handle(req, res); });
    });
    server.on('connection', () => { connections++; });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  });
  after(function () {
    server.closeAllConnections();
    server.close();
  });

  it('resolves with the status of a whole answer, sends the body and headers, and keeps one connection for requests in a row', async function () {
    handle = (req, res) => res.writeHead(req.headers['x-test'] === 'yes' ? 204 : 400).end('ignored body');
    const http = new HttpPoster(url);
    connections = 0;
    try {
      for (let i = 0; i < 3; i++) expect(await http.post(`{"n":${i}}`, { 'x-test': 'yes' }, 1000)).to.equal(204);
      expect(await http.post('{}', {}, 1000)).to.equal(400);
    } finally { http.close(); }
    expect(bodies.slice(-4)).to.deep.equal(['{"n":0}', '{"n":1}', '{"n":2}', '{}']);
    expect(connections, 'connections opened for 4 requests in a row').to.equal(1);
  });

  it('rejects with TimeoutError when no answer comes in time', async function () {
    handle = () => undefined; // never answers
    const http = new HttpPoster(url);
    const started = Date.now();
    try {
      const err = await http.post('{}', {}, 300).then(() => undefined, (e: Error) => e);
      expect(err).to.be.instanceOf(TimeoutError);
      expect(err?.message).to.equal('no answer within 300 ms');
    } finally { http.close(); }
    expect(Date.now() - started).to.be.within(250, 2000);
  });

  it('rejects, and does not hang, when the answer is cut off midway', async function () {
    handle = (_req, res) => { res.writeHead(200, { 'content-length': '100' }); res.write('partial'); setTimeout(() => res.socket?.destroy(), 50); };
    const http = new HttpPoster(url);
    try {
      const err = await http.post('{}', {}, 5000).then(() => undefined, (e: Error) => e);
      expect(err, 'a cut-off answer is a failure').to.be.instanceOf(Error);
      expect(err).not.to.be.instanceOf(TimeoutError);
    } finally { http.close(); }
  });

  it('rejects with a clear error when nothing listens', async function () {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const http = new HttpPoster(`http://127.0.0.1:${port}/hooks`);
    try {
      const err = await http.post('{}', {}, 1000).then(() => undefined, (e: Error) => e);
      expect(err?.message).to.match(/ECONNREFUSED/);
    } finally { http.close(); }
  });
});
