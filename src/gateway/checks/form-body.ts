/**
 * Form bodies (application/x-www-form-urlencoded, multipart/form-data) are read before the token checks,
 * because RFC 6750 §2.2 puts access tokens there and FAPI forbids that method (token-presentation.ts
 * looks for one). The body is forwarded as read; other bodies stream through unread.
 *
 * Reading costs memory before anything is authenticated, so it is bounded three ways: a request without
 * Authorization credentials cannot pass and is not read at all (token-presentation refuses it), each body
 * is limited by `limits.formBodyBytes` (its declared length is refused before reading), and all bodies
 * being read in this process together by `limits.bufferedBodyBytes`. Bodies whose text the gateway could
 * not inspect as it will be read upstream (a content coding, a charset other than UTF-8/ASCII, two
 * Content-Type headers) are refused rather than forwarded.
 */
import type { IncomingMessage } from 'node:http';
import { reject } from '../rejections.js';
import type { Check } from '../request-context.js';

const FORM = /^application\/x-www-form-urlencoded\s*(;|$)/i;
const MULTIPART = /^multipart\/form-data\s*(;|$)/i;
const CHARSET = /;\s*charset\s*=\s*"?([^";\s]+)/i;

/** Bytes of form bodies being read by this process right now (the metric reads it). */
let bufferedBytes = 0;
export function bufferedBodyBytes(): number {
  return bufferedBytes;
}

function headerCount(req: IncomingMessage, lowerName: string): number {
  const raw = req.rawHeaders;
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === lowerName.length && name.toLowerCase() === lowerName) n++;
  }
  return n;
}

/** Reads at most `limit` bytes while the process-wide budget allows; the reservation is released after. */
async function readBody(
  req: IncomingMessage,
  limit: number,
  budget: number,
): Promise<Buffer | 'too_large' | 'busy'> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req) {
      const b = chunk as Buffer;
      size += b.length;
      bufferedBytes += b.length;
      if (size > limit) return 'too_large';
      if (bufferedBytes > budget) return 'busy';
      chunks.push(b);
    }
  } finally {
    bufferedBytes -= size;
  }
  return Buffer.concat(chunks, size);
}

export function formBodyCheck(limits: { formBodyBytes: number; bufferedBodyBytes: number }): Check {
  return {
    name: 'form-body',
    requires: [],
    provides: ['body'],
    // Size and buffer limits protect the gateway itself: never relaxed.
    reportable: false,
    run(ctx) {
      const req = ctx.req;
      const type = req.headers['content-type'];
      if (type === undefined) return undefined;
      if (headerCount(req, 'content-type') > 1) {
        return reject('ambiguous_request', 'the request has more than one Content-Type header');
      }
      const kind = FORM.test(type) ? 'form' : MULTIPART.test(type) ? 'multipart' : undefined;
      if (kind === undefined) return undefined;
      // Without credentials the request cannot pass: refuse it (token-presentation) before reading.
      if (req.headers.authorization === undefined) return undefined;
      const coding = req.headers['content-encoding'];
      if (coding !== undefined && coding.trim().toLowerCase() !== 'identity') {
        return reject('unsupported_body', 'form bodies with a Content-Encoding are not accepted');
      }
      const charset = CHARSET.exec(type)?.[1]?.toLowerCase();
      if (charset !== undefined && charset !== 'utf-8' && charset !== 'us-ascii') {
        return reject('unsupported_body', 'form bodies must be UTF-8');
      }
      const declared = Number(req.headers['content-length'] ?? 0);
      if (declared > limits.formBodyBytes) return reject('body_too_large', 'the form body is too large');
      if (bufferedBytes + declared > limits.bufferedBodyBytes) {
        return reject('body_buffer_full', 'the gateway is reading too many request bodies; retry later');
      }
      return readBody(req, limits.formBodyBytes, limits.bufferedBodyBytes).then((body) => {
        if (body === 'too_large') return reject('body_too_large', 'the form body is too large');
        if (body === 'busy') {
          return reject('body_buffer_full', 'the gateway is reading too many request bodies; retry later');
        }
        ctx.body = body;
        ctx.bodyType = kind;
        return undefined;
      });
    },
  };
}
