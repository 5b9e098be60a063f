/**
 * Reads an `application/x-www-form-urlencoded` body (RFC 6749 §3.2, RFC 7009 §2.1, RFC 7662 §2.1,
 * RFC 9126 §2.1) with a size limit and a read timeout, and refuses repeated parameters (RFC 6749 §3.1:
 * "Request and response parameters MUST NOT be included more than once").
 */
import { OAuthError, invalidRequest } from '../errors.js';
import type { IssuerRequest } from '../http.js';

export const DEFAULT_FORM_LIMIT_BYTES = 64 * 1024;

/** One decoder for every body: without `stream`, each decode starts afresh (WHATWG Encoding §7.2). */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

export class FormParams {
  private constructor(private readonly values: ReadonlyMap<string, string>) {}

  static fromText(text: string): FormParams {
    const values = new Map<string, string>();
    for (const [name, value] of new URLSearchParams(text)) {
      if (values.has(name))
        throw invalidRequest(`parameter "${safeName(name)}" is repeated`, 'repeated_parameter');
      values.set(name, value);
    }
    return new FormParams(values);
  }

  /** The value, or undefined when absent; an empty value counts as absent (RFC 6749 §3.1). */
  get(name: string): string | undefined {
    const v = this.values.get(name);
    return v === '' ? undefined : v;
  }
  has(name: string): boolean {
    return this.get(name) !== undefined;
  }
  required(name: string): string {
    const v = this.get(name);
    if (v === undefined) throw invalidRequest(`missing parameter "${name}"`, 'missing_parameter');
    return v;
  }
  names(): string[] {
    return [...this.values.keys()];
  }
}

/** Parameter names are echoed in errors; keep them short and printable. */
function safeName(name: string): string {
  return name.replace(/[^\x20-\x7e]/g, '?').slice(0, 40);
}

export interface FormReadOptions {
  limitBytes?: number;
  timeoutMs?: number;
}

export async function readForm(request: IssuerRequest, options: FormReadOptions = {}): Promise<FormParams> {
  const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded')
    throw invalidRequest('the body must be application/x-www-form-urlencoded', 'unsupported_content_type');
  const limit = options.limitBytes ?? DEFAULT_FORM_LIMIT_BYTES;
  const declared = Number(request.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  const body = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(
      () => fail(invalidRequest('the request body did not arrive in time', 'body_timeout')),
      options.timeoutMs ?? 10_000,
    );
    const raw = request.raw;
    const cleanup = () => {
      clearTimeout(timer);
      raw.off('data', onData);
      raw.off('end', onEnd);
      raw.off('error', onError);
    };
    const fail = (err: Error) => {
      cleanup();
      raw.resume(); // drain the rest so the connection can answer
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) fail(tooLarge(limit));
      else chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks));
    };
    const onError = (err: Error) => fail(err);
    raw.on('data', onData);
    raw.on('end', onEnd);
    raw.on('error', onError);
  });
  let text: string;
  try {
    text = UTF8.decode(body);
  } catch {
    throw invalidRequest('the body is not valid UTF-8', 'invalid_encoding');
  }
  return FormParams.fromText(text);
}

function tooLarge(limit: number): OAuthError {
  return new OAuthError('body_too_large', `the request body exceeds ${limit} bytes`);
}
