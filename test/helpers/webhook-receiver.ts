/**
 * A real HTTP endpoint for the webhook tests: records every request (headers, raw body, the
 * events), checks each signature the way README's "Your backend" tells receivers to, and answers
 * as the test says (2xx, an error status, or never).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HookEvent {
  id: string;
  type: string;
  timestamp: number;
  channel: string;
  user?: string;
  message?: { seq: number; id: string; text: string; author: string };
  update?: { seq: number; target: number; action: string; author: string; id: string };
}

export interface HookRequest {
  at: number;
  timestamp: string;
  signature: string;
  body: string;
  events: HookEvent[];
  /** Whether the signature is right for the body and timestamp under the secret. */
  signed: boolean;
  /** What this request was answered: a status, or 'hung' when it never was. */
  answer: number | 'hung';
}

/** Decides the answer to one request: a status, or 'hang' (never answer). */
export type Answer = (events: HookEvent[], request: number) => number | 'hang';

export function verifySignature(secret: string, timestamp: string, body: string, header: string): boolean {
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`);
  const given = Buffer.from(header);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export class WebhookReceiver {
  readonly requests: HookRequest[] = [];
  answer: Answer = () => 200;
  private readonly hanging: ServerResponse[] = [];

  private constructor(private readonly server: Server, readonly port: number, private readonly secret: string) {}

  static async start(secret: string): Promise<WebhookReceiver> {
    let receiver: WebhookReceiver | undefined;
    const server = createServer((req, res) => { void receiver?.handle(req, res); });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    receiver = new WebhookReceiver(server, (server.address() as AddressInfo).port, secret);
    return receiver;
  }

  get url(): string { return `http://127.0.0.1:${this.port}/hooks`; }

  /** Events of acknowledged (2xx) requests, in the order they were acknowledged. */
  get delivered(): HookEvent[] {
    return this.requests.filter((r) => typeof r.answer === 'number' && r.answer < 300).flatMap((r) => r.events);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
    const body = Buffer.concat(chunks).toString('utf8');
    const timestamp = String(req.headers['x-chat-timestamp'] ?? '');
    const signature = String(req.headers['x-chat-signature'] ?? '');
    const events = (JSON.parse(body) as { events: HookEvent[] }).events;
    const decision = this.answer(events, this.requests.length);
    this.requests.push({
      at: Date.now(), timestamp, signature, body, events, signed: verifySignature(this.secret, timestamp, body, signature),
      answer: decision === 'hang' ? 'hung' : decision,
    });
    if (decision === 'hang') { this.hanging.push(res); return; }
    res.writeHead(decision, { 'content-type': 'text/plain' });
    res.end(decision < 300 ? 'ok' : 'no');
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
