/**
 * A form body (application/x-www-form-urlencoded) is read before the token checks, bounded by
 * `limits.formBodyBytes`, because RFC 6750 §2.2 puts access tokens there and FAPI forbids that method
 * (token-presentation.ts looks for one). The body is forwarded as read. Other bodies stream through.
 */
import type { IncomingMessage } from 'node:http';
import { reject } from '../rejections.js';
import type { Check } from '../request-context.js';

function isFormBody(req: IncomingMessage): boolean {
  const type = req.headers['content-type'];
  return typeof type === 'string' && /^application\/x-www-form-urlencoded\s*(;|$)/i.test(type);
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > limit) return undefined;
    chunks.push(b);
  }
  return Buffer.concat(chunks, size);
}

export function formBodyCheck(limits: { formBodyBytes: number }): Check {
  return {
    name: 'form-body',
    requires: [],
    provides: ['body'],
    // A size limit protects the gateway itself: never relaxed.
    reportable: false,
    run(ctx) {
      if (!isFormBody(ctx.req)) return undefined;
      return readBody(ctx.req, limits.formBodyBytes).then((body) => {
        if (body === undefined) return reject('body_too_large', 'the form body is too large');
        ctx.body = body;
        return undefined;
      });
    },
  };
}
