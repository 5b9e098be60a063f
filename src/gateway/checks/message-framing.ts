/**
 * Message framing: what RFC 9112 requires of a request before any of it means anything. One Host on
 * HTTP/1.1 (§3.2: a missing or repeated Host is a 400), and no transfer coding but chunked (§6.1: the
 * gateway cannot pass another coding on intact, so it answers 501 as nginx does).
 */
import { reject } from '../rejections.js';
import type { Check } from '../request-context.js';

/** Node keeps the first of repeated Host lines in `headers`; only the raw lines show the others. */
function hostLines(rawHeaders: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') n++;
  }
  return n;
}

export const messageFramingCheck: Check = {
  name: 'message-framing',
  requires: [],
  provides: [],
  // A request that is not one well-framed message has no meaning for the upstream: always refused.
  reportable: false,
  run(ctx) {
    const req = ctx.req;
    if (req.headers.host === undefined) {
      if (req.httpVersion === '1.1') return reject('host_missing', 'the request has no Host header');
    } else if (hostLines(req.rawHeaders) > 1) {
      return reject('ambiguous_request', 'the request has more than one Host header');
    }
    const te = req.headers['transfer-encoding'];
    // Node joins repeated Transfer-Encoding lines with ", ": anything but chunked alone is refused.
    if (te !== undefined && te.trim().toLowerCase() !== 'chunked') {
      return reject('unsupported_transfer_coding', 'only the chunked transfer coding is supported');
    }
    return undefined;
  },
};
