/**
 * Reading an `application/x-www-form-urlencoded` body with a size limit: bad input (wrong type, too
 * large, repeated parameters) is an error value, never a crash or an unbounded buffer.
 */
import type { IncomingMessage } from 'node:http';

export class FormBodyError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'FormBodyError';
  }
}

export const DEFAULT_FORM_LIMIT_BYTES = 64 * 1024;

/**
 * Parameters of a form body. RFC 6749 §3.1: "Request and response parameters MUST NOT be included more
 * than once", so a repeated name is refused.
 */
export async function readFormBody(
  req: IncomingMessage,
  limitBytes = DEFAULT_FORM_LIMIT_BYTES,
): Promise<Record<string, string>> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded')
    throw new FormBodyError(415, 'the body must be application/x-www-form-urlencoded');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limitBytes) throw new FormBodyError(413, `the body exceeds ${limitBytes} bytes`);
    chunks.push(chunk);
  }
  return formParameters(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
}

/** Parameters as a plain record; a repeated name is an error (RFC 6749 §3.1). */
export function formParameters(params: URLSearchParams): Record<string, string> {
  // A null-prototype record: a parameter named `__proto__` is just a parameter.
  const out = Object.create(null) as Record<string, string>;
  for (const [name, value] of params) {
    if (Object.prototype.hasOwnProperty.call(out, name))
      throw new FormBodyError(400, `parameter ${name} appears more than once`);
    out[name] = value;
  }
  return out;
}
