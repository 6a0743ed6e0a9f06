/**
 * The client's address behind a load balancer or reverse proxy (SPEC §9). A connection from a
 * trusted proxy (`TRUST_PROXY`: addresses and CIDRs, IPv4 and IPv6) takes its client address
 * from `X-Forwarded-For`: the right-most address that is not itself a trusted proxy. From anyone
 * else the header is ignored, so a client cannot pick its own address by sending one.
 */
import { BlockList, isIP } from 'node:net';
import { parseAddressRange } from '@chat/shared';

/** A TRUST_PROXY entry that is neither an address nor a CIDR. */
export class TrustProxyError extends Error {
  override name = 'TrustProxyError';
}

/** `::ffff:10.0.0.1` (an IPv4 peer on a dual-stack socket) as `10.0.0.1`. */
export function plainAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? (mapped[1] as string) : address;
}

export class TrustedProxies {
  private readonly list = new BlockList();
  readonly empty: boolean;

  /** @param entries addresses (`10.0.0.5`, `::1`) and CIDRs (`10.0.0.0/8`, `fd00::/8`) */
  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      const range = parseAddressRange(entry);
      if (!range) throw new TrustProxyError(`"${entry}" is not an IP address or CIDR (e.g. 10.0.0.5, 10.0.0.0/8, fd00::/8)`);
      this.list.addSubnet(range.address, range.prefix, range.family);
    }
    this.empty = entries.length === 0;
  }

  trusts(address: string): boolean {
    const plain = plainAddress(address);
    const family = isIP(plain);
    return family !== 0 && this.list.check(plain, family === 4 ? 'ipv4' : 'ipv6');
  }

  /** The client's address for a connection from `peer` carrying `forwardedFor` (the header's value, if any). */
  clientAddress(peer: string | undefined, forwardedFor: string | string[] | undefined): string {
    const direct = plainAddress(peer ?? 'unknown');
    if (this.empty || forwardedFor === undefined || !this.trusts(direct)) return direct;
    const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor).split(',').map((h) => plainAddress(h.trim()));
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i] as string;
      if (isIP(hop) === 0) return direct; // a malformed entry: trust nothing to its left
      if (!this.trusts(hop)) return hop;
    }
    // Every hop is a trusted proxy: the left-most is as close to the client as we can tell.
    return hops[0] && isIP(hops[0]) !== 0 ? hops[0] : direct;
  }
}
