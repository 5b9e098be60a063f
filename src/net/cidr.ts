/** Address ranges as configured (`trustedProxies.cidrs`): parsed here, matched by node:net's BlockList. */
import { isIPv4, isIPv6 } from 'node:net';

/** `10.0.0.0/8`, `fd00::/8`, or one address (a /32 or /128). */
export function parseCidr(cidr: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } {
  const slash = cidr.indexOf('/');
  const address = slash < 0 ? cidr : cidr.slice(0, slash);
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
  if (family === undefined) throw new Error(`${cidr}: not an IPv4 or IPv6 address or range`);
  const max = family === 'ipv4' ? 32 : 128;
  const prefixText = slash < 0 ? String(max) : cidr.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) {
    throw new Error(`${cidr}: the prefix length must be 0 to ${max}`);
  }
  return { address, prefix: Number(prefixText), family };
}
