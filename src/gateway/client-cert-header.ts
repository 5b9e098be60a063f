/**
 * The `Client-Cert` request header a TLS-terminating proxy sends (RFC 9440 §2.2): a Structured Field Item
 * whose value is a Byte Sequence (RFC 8941 §3.3.5) holding the DER of the client's end-entity certificate.
 *
 * Parsing follows RFC 8941 §4.2 and §4.2.7: surrounding spaces are discarded; the value is `:` base64 `:`
 * with only the RFC 4648 §4 alphabet inside; missing `=` padding is tolerated (§4.2.7 "SHOULD NOT fail").
 * RFC 9440 defines no parameters and no known proxy sends any, so a value with parameters, several values
 * (two header lines, which Node joins with a comma) or anything after the closing `:` is refused rather
 * than guessed at.
 *
 * `Client-Cert-Chain` (RFC 9440 §2.3) is a List (RFC 8941 §3.1, §4.2.1) of such Byte Sequences: the
 * intermediates the client sent in its handshake. Two header lines are one list (Node joins them with a
 * comma, which is the List syntax); members are separated by a comma with optional spaces or tabs around
 * it; an empty member, a trailing comma or a member with parameters makes the whole value unparsable.
 */

const BASE64_BODY = /^[A-Za-z0-9+/]*={0,2}$/;

/** The longest header value that can hold a certificate of `maxBytes` DER bytes (checked before decoding). */
export function clientCertHeaderMaxChars(maxBytes: number): number {
  return Math.ceil(maxBytes / 3) * 4 + 2;
}

/** The certificate's DER bytes, or undefined when `value` is not one RFC 9440 Byte Sequence (never throws). */
export function parseClientCertHeader(value: string): Buffer | undefined {
  let start = 0;
  let end = value.length;
  while (start < end && value.charCodeAt(start) === 0x20) start++;
  while (end > start && value.charCodeAt(end - 1) === 0x20) end--;
  if (end - start < 2 || value[start] !== ':' || value[end - 1] !== ':') return undefined;
  const body = value.slice(start + 1, end - 1);
  if (body.length === 0 || !BASE64_BODY.test(body)) return undefined;
  const unpadded = body.replace(/=+$/, '');
  // A base64 length of 4n+1 cannot encode whole bytes (RFC 4648 §4); padding must complete a quantum.
  if (unpadded.length % 4 === 1) return undefined;
  if (unpadded.length !== body.length && body.length % 4 !== 0) return undefined;
  const der = Buffer.from(unpadded, 'base64');
  return der.length === 0 ? undefined : der;
}

/**
 * The DER bytes of every certificate in a `Client-Cert-Chain` value, in the order sent, or undefined when
 * it is not a List of Byte Sequences (never throws). An empty value is an empty list (RFC 8941 §4.2).
 */
export function parseClientCertChainHeader(value: string): Buffer[] | undefined {
  if (/^[ \t]*$/.test(value)) return [];
  const out: Buffer[] = [];
  for (const member of value.split(',')) {
    const der = parseClientCertHeader(member.replace(/^[ \t]+|[ \t]+$/g, ''));
    if (der === undefined) return undefined;
    out.push(der);
  }
  return out;
}

/** The canonical RFC 9440 value for a DER certificate (what the gateway sends upstream). */
export function clientCertHeaderValue(der: Buffer): string {
  return `:${der.toString('base64')}:`;
}
