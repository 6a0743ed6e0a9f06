/**
 * A TCP proxy between programs and Redis that can pass traffic, black-hole it (stop forwarding
 * in both directions without closing anything: the worst network fault, since nobody notices),
 * heal (what was held back flows on, as TCP retransmission would deliver it), or reset every
 * connection.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/** Reading stops, so the bytes wait in the kernel's buffers and TCP holds the senders back. */
function hold([a, b]: [Socket, Socket]): void {
  a.unpipe(b); b.unpipe(a);
  a.pause(); b.pause();
}

function forward([a, b]: [Socket, Socket]): void {
  a.pipe(b); b.pipe(a);
}

export class TcpProxy {
  private holding = false;
  private readonly pairs = new Set<[Socket, Socket]>();
  private constructor(private readonly server: Server, readonly port: number) {}

  static async start(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
    let proxy: TcpProxy | undefined;
    const server = createServer((client) => {
      const upstream = createConnection({ port: targetPort, host: targetHost });
      const pair: [Socket, Socket] = [client, upstream];
      proxy?.pairs.add(pair);
      if (!proxy?.holding) forward(pair);
      const end = (): void => { client.destroy(); upstream.destroy(); proxy?.pairs.delete(pair); };
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new TcpProxy(server, (server.address() as AddressInfo).port);
    return proxy;
  }

  get url(): string { return `redis://127.0.0.1:${this.port}`; }

  /** Stops forwarding, both ways, on every connection (and on new ones), closing nothing. */
  blackhole(): void {
    this.holding = true;
    for (const pair of this.pairs) hold(pair);
  }

  /** Forwards again, including what was held back. */
  heal(): void {
    this.holding = false;
    for (const pair of this.pairs) forward(pair);
  }

  /** Resets every connection (RST), as a network that dropped them would. */
  reset(): void {
    for (const [a, b] of this.pairs) { a.resetAndDestroy(); b.resetAndDestroy(); }
    this.pairs.clear();
  }

  async stop(): Promise<void> {
    this.reset();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
