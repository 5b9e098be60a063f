/**
 * The HTTP edge of introspection: one `POST token=...` (RFC 7662 §2.1) per call, authenticated as
 * configured, over keep-alive HTTPS (undici). One deadline covers connecting, the headers and the whole
 * body, so an endpoint that accepts and then drips bytes cannot hold a request past `timeoutMs`; the body
 * is capped. The outcome is a value: a parsed JSON document, or the kind of failure (the caller fails closed).
 */
import { Agent, request } from 'undici';
import type { ClientAuthentication } from './client-auth.js';

/** An introspection answer is a few hundred bytes; anything near this is not one. */
export const MAX_INTROSPECTION_RESPONSE_BYTES = 64 * 1024;

export type IntrospectionFailure = 'timeout' | 'connection_error' | 'http_error' | 'invalid_response';

export type IntrospectionCall =
  | { kind: 'answer'; document: unknown }
  /** `detail` is safe to log: it never contains the token or the client's credentials. */
  | { kind: 'failure'; failure: IntrospectionFailure; detail: string };

export interface IntrospectionClientOptions {
  endpoint: string;
  auth: ClientAuthentication;
  /** Trusted CAs (PEM); undefined: Node's store (system CAs plus NODE_EXTRA_CA_CERTS). */
  ca: string[] | undefined;
  timeoutMs: number;
}

class Deadline extends Error {}

export class IntrospectionClient {
  private readonly agent: Agent;

  constructor(private readonly options: IntrospectionClientOptions) {
    this.agent = new Agent({
      connect: {
        ca: options.ca,
        cert: options.auth.tls?.cert,
        key: options.auth.tls?.key,
        timeout: options.timeoutMs,
      },
      keepAliveTimeout: 30_000,
      // The deadline below is the only timer that matters; these just never fire first.
      headersTimeout: options.timeoutMs + 1000,
      bodyTimeout: options.timeoutMs + 1000,
    });
  }

  async introspect(token: string): Promise<IntrospectionCall> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Deadline()), this.options.timeoutMs);
    try {
      const form = new URLSearchParams({ token });
      const headers: Record<string, string> = {
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      };
      await this.options.auth.apply(form, headers);
      const res = await request(this.options.endpoint, {
        method: 'POST',
        dispatcher: this.agent,
        headers,
        body: form.toString(),
        signal: controller.signal,
      });
      // Aborting or destroying the body emits 'error'; the outcome is decided here, not by that event.
      res.body.on('error', () => undefined);
      if (res.statusCode !== 200) {
        res.body.destroy();
        return { kind: 'failure', failure: 'http_error', detail: `HTTP ${res.statusCode}` };
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body) {
        const b = chunk as Buffer;
        size += b.length;
        if (size > MAX_INTROSPECTION_RESPONSE_BYTES) {
          res.body.destroy();
          return { kind: 'failure', failure: 'invalid_response', detail: 'the answer is too large' };
        }
        chunks.push(b);
      }
      try {
        return { kind: 'answer', document: JSON.parse(Buffer.concat(chunks, size).toString('utf8')) };
      } catch {
        return { kind: 'failure', failure: 'invalid_response', detail: 'the answer is not JSON' };
      }
    } catch (err) {
      if (controller.signal.aborted) {
        return {
          kind: 'failure',
          failure: 'timeout',
          detail: `no complete answer within ${this.options.timeoutMs} ms`,
        };
      }
      const e = err as NodeJS.ErrnoException;
      return { kind: 'failure', failure: 'connection_error', detail: e.code ?? e.message };
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    void this.agent.close().catch(() => undefined);
  }
}
