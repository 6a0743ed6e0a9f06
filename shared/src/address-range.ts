/** An IP address or CIDR as `TRUST_PROXY` takes them (SPEC §9). */
import { isIP } from 'node:net';

export interface AddressRange { address: string; prefix: number; family: 'ipv4' | 'ipv6' }

/** Parses `10.0.0.5`, `10.0.0.0/8`, `::1` or `fd00::/8`; undefined when it is none of those. */
export function parseAddressRange(entry: string): AddressRange | undefined {
  const [address, bits, extra] = entry.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || extra !== undefined) return undefined;
  const max = family === 4 ? 32 : 128;
  if (bits !== undefined && (!/^\d+$/.test(bits) || Number(bits) > max)) return undefined;
  return { address: address as string, prefix: bits === undefined ? max : Number(bits), family: family === 4 ? 'ipv4' : 'ipv6' };
}
