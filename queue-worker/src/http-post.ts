/**
 * POSTs a body over a keep-alive connection pool and reports the answer's status (the body is
 * read and dropped). The webhook dispatcher's only HTTP client: `node:http` costs a fraction of
 * the CPU of `fetch`, whose web streams showed as the largest item in the dispatcher's profile.
 */
import { Agent as HttpAgent, request as httpRequest, type OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

const FREE_SOCKET_MS = 4000;

export class TimeoutError extends Error {
  override readonly name = 'TimeoutError';
}

export class HttpPoster {
  private readonly url: URL;
  private readonly agent: HttpAgent;
  private readonly request: typeof httpRequest;

  /**
   * Sockets are not capped: a failed shared request is sent again as one request per channel,
   * side by side. An idle socket is closed after FREE_SOCKET_MS, before a server's usual 5 s
   * keep-alive timeout, so a request is not written to a socket the server is closing.
   */
  constructor(url: string) {
    this.url = new URL(url);
    const https = this.url.protocol === 'https:';
    this.agent = https ? new HttpsAgent({ keepAlive: true, timeout: FREE_SOCKET_MS }) : new HttpAgent({ keepAlive: true, timeout: FREE_SOCKET_MS });
    this.request = https ? httpsRequest : httpRequest;
  }

  /** Resolves with the status code; rejects with TimeoutError when no answer ends within `timeoutMs`. */
  post(body: string, headers: OutgoingHttpHeaders, timeoutMs: number): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      let settled = false;
      let timedOut = false;
      const settle = (status: number | Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (typeof status === 'number') resolve(status);
        else reject(timedOut ? new TimeoutError(`no answer within ${timeoutMs} ms`) : status);
      };
      const req = this.request(this.url, {
        method: 'POST', agent: this.agent, headers: { ...headers, 'content-length': Buffer.byteLength(body) },
      }, (res) => {
        res.on('data', () => undefined);
        res.on('end', () => settle(res.statusCode ?? 0));
        res.on('error', settle);
        res.on('close', () => { if (!res.complete) settle(new Error('the endpoint closed the connection before its answer ended')); });
      });
      // Whatever ends the request without a whole answer (the timeout's destroy included) rejects.
      req.on('error', settle);
      req.on('close', () => settle(new Error('the connection closed before an answer')));
      const timer = setTimeout(() => { timedOut = true; req.destroy(); }, timeoutMs);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
