// The part of autocannon 9's programmatic API the load driver uses (the package ships no types).
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';
  import type { ConnectionOptions } from 'node:tls';

  namespace autocannon {
    interface Request {
      method?: string;
      path?: string;
      headers?: Record<string, string>;
      body?: string | Buffer;
      setupRequest?: (req: Request, context: Record<string, unknown>) => Request;
    }
    interface Options {
      /** Several URLs: the connections are spread over them round-robin. */
      url: string | string[];
      connections?: number;
      duration?: number;
      amount?: number;
      maxOverallRequests?: number;
      method?: string;
      headers?: Record<string, string>;
      body?: string | Buffer;
      requests?: Request[];
      reconnectRate?: number;
      overallRate?: number;
      timeout?: number;
      tlsOptions?: ConnectionOptions;
    }
    interface Result {
      duration: number;
      errors: number;
      timeouts: number;
      non2xx: number;
      '2xx': number;
      requests: { total: number; average: number };
    }
    interface Instance extends EventEmitter {
      stop(): void;
    }
  }
  function autocannon(
    opts: autocannon.Options,
    cb: (err: unknown, result: autocannon.Result) => void,
  ): autocannon.Instance;
  export = autocannon;
}
