/**
 * The load driver: one autocannon run, as its own process so it can be pinned to its own core. The spec
 * arrives as JSON in argv[2]; the result is printed as one JSON line. Latencies are kept per request at
 * hrtime precision (autocannon's own histogram rounds to whole milliseconds) so p99.9 is exact.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import tls from 'node:tls';
import autocannon from 'autocannon';
import { lastJsonLineOf } from './processes.js';

/**
 * autocannon checks its duration once per sample (`sampleInt`, an option its type declarations leave
 * out): at the default 1 s a 2.1 s run lasts 3 s.
 */
const SAMPLE_EVERY_100_MS = { sampleInt: 100 };

export interface LoadSpec {
  url: string;
  /**
   * Several servers (replicas) to spread the connections over, round-robin (autocannon's own URL list);
   * `url` is then the first of them.
   */
  urls?: string[];
  connections: number;
  durationSeconds: number;
  /**
   * Seconds of load before the measured window starts (connections set up, TLS handshakes done), so
   * keep-alive scenarios report the steady state; scenario (c) measures set-up on purpose.
   */
  settleSeconds?: number;
  /** Upper bound on requests, whatever the duration. */
  maxRequests: number;
  method?: 'GET' | 'POST';
  bodyBytes?: number;
  /** One access token for every request. */
  token?: string;
  /** The Authorization scheme `token` is presented with (default Bearer). */
  scheme?: 'Bearer' | 'DPoP';
  /**
   * JSON file with an array of DPoP proofs (RFC 9449 §4), one per request and each sent once: a proof is
   * good for one request only. Requests past the last proof go without one (and count as non-2xx).
   */
  proofsFile?: string;
  /** JSON file with an array of bearer tokens, used round-robin across all connections. */
  tokensFile?: string;
  /** An application/x-www-form-urlencoded body POSTed with every request (the issuer's endpoints). */
  form?: string;
  /**
   * JSON file with an array of form bodies, one per request and each sent once (a client assertion is
   * good for one request only). Requests stop at the last one.
   */
  formsFile?: string;
  /**
   * The C driver (bench/native.ts) that sends `formsFile` instead of this process's JavaScript loop, when
   * it could be built.
   */
  formDriver?: string;
  /** New TLS connection for every request. */
  reconnectEachRequest?: boolean;
  /** Requests per second over all connections (0: as fast as possible). */
  rate?: number;
  tls?: { cert: string; key: string; maxVersion?: 'TLSv1.2' | 'TLSv1.3'; ciphers?: string };
}

export interface LatencySummary {
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

export interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  /** Milliseconds, 2xx responses only. */
  latencyMs: LatencySummary;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** Scenario (c): connections whose TLS session was resumed. */
  resumed?: number;
  /** CPU the load generator itself used, % of one core: near 100 means the driver, not the target, limits. */
  driverCpuPercent: number;
}

export function percentiles(samples: Float64Array): LatencySummary {
  if (samples.length === 0) return { p50: 0, p99: 0, p999: 0, max: 0 };
  const sorted = samples.slice().sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  const round = (v: number) => Math.round(v * 1000) / 1000;
  return {
    p50: round(at(0.5)),
    p99: round(at(0.99)),
    p999: round(at(0.999)),
    max: round(sorted[sorted.length - 1]!),
  };
}

type AutocannonRequest = { headers?: Record<string, string>; body?: string | Buffer };

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  if (spec.reconnectEachRequest) return runConnectionPerRequest(spec);
  if (spec.formsFile && !spec.rate) {
    const forms = JSON.parse(readFileSync(spec.formsFile, 'utf8')) as string[];
    return spec.formDriver ? runFormDriver(spec, spec.formDriver, forms) : runFormPerRequest(spec, forms);
  }
  const headers: Record<string, string> = {};
  if (spec.token) headers.authorization = `${spec.scheme ?? 'Bearer'} ${spec.token}`;
  let body: Buffer | undefined;
  const forms = spec.formsFile ? (JSON.parse(readFileSync(spec.formsFile, 'utf8')) as string[]) : undefined;
  if (spec.form !== undefined || forms) {
    body = Buffer.from(spec.form ?? forms![0]!);
    headers['content-type'] = 'application/x-www-form-urlencoded';
  } else if (spec.method === 'POST') {
    body = Buffer.alloc(spec.bodyBytes ?? 0, 'x');
    headers['content-type'] = 'application/octet-stream';
  }
  const tokens = spec.tokensFile
    ? (JSON.parse(readFileSync(spec.tokensFile, 'utf8')) as string[])
    : undefined;
  const proofs = spec.proofsFile
    ? (JSON.parse(readFileSync(spec.proofsFile, 'utf8')) as string[])
    : undefined;
  let next = 0;
  let nextProof = 0;
  let nextForm = 0;
  const requests =
    tokens || proofs
      ? [
          {
            setupRequest: (req: AutocannonRequest) => {
              const extra: Record<string, string> = {};
              if (tokens) extra.authorization = `Bearer ${tokens[next++ % tokens.length]!}`;
              if (proofs && nextProof < proofs.length) extra.dpop = proofs[nextProof++]!;
              req.headers = { ...req.headers, ...extra };
              return req;
            },
          },
        ]
      : forms
        ? [
            {
              setupRequest: (req: AutocannonRequest) => {
                req.body = forms[nextForm++ % forms.length]!;
                return req;
              },
            },
          ]
        : undefined;
  const maxRequests = Math.min(spec.maxRequests, proofs?.length ?? Infinity, forms?.length ?? Infinity);

  let latencies = new Float64Array(1 << 16);
  let count = 0;
  const settleSeconds = spec.settleSeconds ?? 0;
  let windowStart = 0n;
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: spec.urls && spec.urls.length > 1 ? spec.urls : spec.url,
        connections: spec.connections,
        duration: spec.durationSeconds + settleSeconds,
        ...SAMPLE_EVERY_100_MS,
        maxOverallRequests: maxRequests,
        method: spec.method ?? (spec.form !== undefined || forms ? 'POST' : 'GET'),
        headers,
        ...(body ? { body } : {}),
        ...(requests ? { requests } : {}),
        ...(spec.reconnectEachRequest ? { reconnectRate: 1 } : {}),
        ...(spec.rate ? { overallRate: spec.rate } : {}),
        timeout: 10,
        ...(spec.tls
          ? {
              tlsOptions: {
                cert: readFileSync(spec.tls.cert),
                key: readFileSync(spec.tls.key),
                ...(spec.tls.maxVersion ? { maxVersion: spec.tls.maxVersion } : {}),
                ...(spec.tls.ciphers ? { ciphers: spec.tls.ciphers } : {}),
              },
            }
          : {}),
      },
      (err, res) =>
        err ? reject(err instanceof Error ? err : new Error('autocannon failed')) : resolve(res),
    );
    instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
      if (statusCode < 200 || statusCode >= 300) return;
      if (windowStart === 0n) {
        if (process.hrtime.bigint() - started < BigInt(Math.round(settleSeconds * 1e9))) return;
        windowStart = process.hrtime.bigint();
      }
      if (count === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[count++] = responseTime;
    });
  });
  const ended = process.hrtime.bigint();
  const seconds = Number(ended - started) / 1e9;
  const windowSeconds = windowStart === 0n ? seconds : Number(ended - windowStart) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  const total = result.requests.total;
  return {
    requests: total,
    seconds: Math.round(seconds * 100) / 100,
    rps: Math.round(count / windowSeconds),
    latencyMs: percentiles(latencies.subarray(0, count)),
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    driverCpuPercent: cpuPercent(cpu, seconds),
  };
}

/** The driver's own TLS client options for `url`: its certificate when the scenario has one (read once). */
function clientTlsOptions(spec: LoadSpec, url: URL): tls.ConnectionOptions {
  return {
    host: url.hostname,
    port: Number(url.port),
    rejectUnauthorized: false,
    ...(spec.tls ? { cert: readFileSync(spec.tls.cert), key: readFileSync(spec.tls.key) } : {}),
    ...(spec.tls?.maxVersion ? { maxVersion: spec.tls.maxVersion } : {}),
    ...(spec.tls?.ciphers ? { ciphers: spec.tls.ciphers } : {}),
  };
}

/** The driver's CPU over a run, in percent of one core. */
function cpuPercent(cpu: NodeJS.CpuUsage, seconds: number): number {
  return Math.round(((cpu.user + cpu.system) / 1e6 / seconds) * 100);
}

/**
 * Scenario (c), one TLS connection per request. autocannon's `reconnectRate` drops the response it
 * reconnects after (nothing is counted), so this loop does it directly: `connections` concurrent clients,
 * each connecting, sending one request with `Connection: close`, reading to the end and reconnecting,
 * offering the last TLS session for resumption as a real client would (RFC 8446 §2.2).
 */
async function runConnectionPerRequest(spec: LoadSpec): Promise<LoadResult> {
  const url = new URL(spec.url);
  const connectOptions = clientTlsOptions(spec, url);
  const request = Buffer.from(
    `${spec.method ?? 'GET'} ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\n` +
      (spec.token ? `Authorization: Bearer ${spec.token}\r\n` : '') +
      'Connection: close\r\n\r\n',
  );
  const latencies: number[] = [];
  let requests = 0;
  let non2xx = 0;
  let errors = 0;
  let timeouts = 0;
  let resumed = 0;
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  const deadline = Date.now() + spec.durationSeconds * 1000;
  const oneRequest = (session: Buffer | undefined) =>
    new Promise<Buffer | undefined>((resolve) => {
      const t0 = process.hrtime.bigint();
      let head = '';
      let nextSession = session;
      const socket = tls.connect({ ...connectOptions, ...(session ? { session } : {}) });
      socket.setTimeout(10_000, () => {
        timeouts++;
        socket.destroy();
      });
      socket.on('session', (s: Buffer) => (nextSession = s));
      socket.once('secureConnect', () => {
        if (socket.isSessionReused()) resumed++;
        socket.write(request);
      });
      socket.on('data', (chunk: Buffer) => {
        if (head.length < 16) head += chunk.toString('latin1', 0, Math.min(chunk.length, 16));
      });
      socket.on('error', () => errors++);
      socket.on('close', () => {
        requests++;
        const status = Number(head.slice(9, 12));
        if (status >= 200 && status < 300) latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
        else if (head) non2xx++;
        resolve(nextSession);
      });
    });
  const client = async () => {
    let session: Buffer | undefined;
    while (Date.now() < deadline && requests < spec.maxRequests) session = await oneRequest(session);
  };
  await Promise.all(Array.from({ length: spec.connections }, client));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  return {
    requests,
    seconds: Math.round(seconds * 100) / 100,
    rps: Math.round(latencies.length / seconds),
    latencyMs: percentiles(Float64Array.from(latencies)),
    non2xx,
    errors,
    timeouts,
    resumed,
    driverCpuPercent: cpuPercent(cpu, seconds),
  };
}

/** The servers a run spreads its connections over, round-robin: `urls` (replicas) or `url` alone. */
function targetUrls(spec: LoadSpec): URL[] {
  return (spec.urls && spec.urls.length > 1 ? spec.urls : [spec.url]).map((u) => new URL(u));
}

/**
 * runFormPerRequest's load, sent by the C driver: the forms go to it one per line (they are
 * application/x-www-form-urlencoded, so none holds a line break) and it prints the LoadResult. This
 * process only waits meanwhile.
 */
async function runFormDriver(spec: LoadSpec, driver: string, forms: string[]): Promise<LoadResult> {
  const urls = targetUrls(spec);
  const first = urls[0]!;
  if (urls.some((u) => u.hostname !== first.hostname || u.pathname !== first.pathname))
    throw new Error('the form driver sends to one host and path (on several ports)');
  const lines = `${spec.formsFile!}.lines`;
  writeFileSync(lines, forms.slice(0, spec.maxRequests).join('\n') + '\n');
  try {
    return await lastJsonLineOf<LoadResult>('the form driver', driver, [
      first.hostname,
      `${first.pathname}${first.search}`,
      urls.map((u) => u.port).join(','),
      String(spec.connections),
      String(spec.durationSeconds),
      String(spec.settleSeconds ?? 0),
      String(spec.maxRequests),
      lines,
      spec.tls?.cert ?? '',
      spec.tls?.key ?? '',
      spec.tls?.maxVersion ?? '',
      spec.tls?.ciphers ?? '',
    ]);
  } finally {
    rmSync(lines, { force: true });
  }
}

/**
 * The issuer scenarios with one form per request (a client assertion is good once): each request's bytes
 * are one buffer written as it is (the forms were signed before the round) over `connections` keep-alive mTLS
 * connections, spread round-robin over `urls`, one request outstanding per connection; the response is
 * framed by its `Content-Length` (both issuers send one). autocannon rebuilt every request from a
 * `setupRequest` callback and parsed every response in JavaScript (http-parser-js), which cost the driver
 * about as much CPU per request as a third of an issuer process's: on two cores it took a share of the
 * cores the issuer replicas were measured on.
 */
async function runFormPerRequest(spec: LoadSpec, forms: string[]): Promise<LoadResult> {
  const urls = targetUrls(spec);
  const count = Math.min(spec.maxRequests, forms.length);
  const bodies = forms.slice(0, count).map((form) => Buffer.from(form));
  // The request head for each URL and body length, so a request is one buffer and one TLS record.
  const heads = new Map<string, Buffer>();
  const requestFor = (url: URL, body: Buffer): Buffer => {
    const k = `${url.host} ${body.length}`;
    let head = heads.get(k);
    if (!head) {
      head = Buffer.from(
        `POST ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: keep-alive\r\n` +
          `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n`,
        'latin1',
      );
      heads.set(k, head);
    }
    return Buffer.concat([head, body], head.length + body.length);
  };
  const connectOptions = new Map(urls.map((u) => [u, clientTlsOptions(spec, u)]));
  const HEAD_END = Buffer.from('\r\n\r\n');
  let latencies = new Float64Array(1 << 16);
  let count2xx = 0;
  let sent = 0;
  let answered = 0;
  let non2xx = 0;
  let errors = 0;
  let timeouts = 0;
  const settleNs = BigInt(Math.round((spec.settleSeconds ?? 0) * 1e9));
  let windowStart = 0n;
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  const deadline = started + BigInt(Math.round((spec.durationSeconds + (spec.settleSeconds ?? 0)) * 1e9));
  const record = (status: number, t0: bigint) => {
    const now = process.hrtime.bigint();
    answered++;
    if (status < 200 || status >= 300) {
      non2xx++;
      return;
    }
    if (windowStart === 0n) {
      if (now - started < settleNs) return;
      windowStart = now;
    }
    if (count2xx === latencies.length) {
      const grown = new Float64Array(latencies.length * 2);
      grown.set(latencies);
      latencies = grown;
    }
    latencies[count2xx++] = Number(now - t0) / 1e6;
  };
  /** One connection: sends the next unsent request after each complete response, reconnecting if closed. */
  const connection = (index: number) =>
    new Promise<void>((resolve) => {
      const url = urls[index % urls.length]!;
      const open = () => {
        const socket = tls.connect(connectOptions.get(url)!);
        socket.setNoDelay(true);
        let pending: Buffer | undefined;
        let bodyLeft = -1;
        let status = 0;
        let t0 = 0n;
        let inFlight = false;
        let done = false;
        const next = () => {
          if (sent >= count || process.hrtime.bigint() >= deadline) {
            done = true;
            socket.destroy();
            return;
          }
          const request = requestFor(url, bodies[sent++]!);
          inFlight = true;
          pending = undefined;
          bodyLeft = -1;
          t0 = process.hrtime.bigint();
          socket.write(request);
        };
        socket.setTimeout(10_000, () => {
          if (!inFlight) return;
          timeouts++;
          socket.destroy();
        });
        socket.once('secureConnect', next);
        socket.on('data', (chunk: Buffer) => {
          if (!inFlight) return;
          if (bodyLeft < 0) {
            const data = pending ? Buffer.concat([pending, chunk]) : chunk;
            const end = data.indexOf(HEAD_END);
            if (end < 0) {
              pending = data;
              return;
            }
            const head = data.toString('latin1', 0, end).toLowerCase();
            status = Number(head.slice(9, 12));
            const m = /\r\ncontent-length:\s*(\d+)/.exec(head);
            if (!m) {
              // Without a length the response cannot be framed on a kept-alive connection.
              errors++;
              inFlight = false;
              socket.destroy();
              return;
            }
            bodyLeft = Number(m[1]) - (data.length - end - 4);
            pending = undefined;
          } else bodyLeft -= chunk.length;
          if (bodyLeft > 0) return;
          inFlight = false;
          record(status, t0);
          next();
        });
        socket.on('error', () => {
          if (inFlight) errors++;
          inFlight = false;
        });
        socket.on('close', () => {
          if (done || sent >= count || process.hrtime.bigint() >= deadline) resolve();
          else open();
        });
      };
      open();
    });
  await Promise.all(Array.from({ length: spec.connections }, (_, i) => connection(i)));
  const ended = process.hrtime.bigint();
  const seconds = Number(ended - started) / 1e9;
  const windowSeconds = windowStart === 0n ? seconds : Number(ended - windowStart) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  return {
    requests: answered,
    seconds: Math.round(seconds * 100) / 100,
    rps: Math.round(count2xx / windowSeconds),
    latencyMs: percentiles(latencies.subarray(0, count2xx)),
    non2xx,
    errors,
    timeouts,
    driverCpuPercent: cpuPercent(cpu, seconds),
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const spec = JSON.parse(process.argv[2] ?? '{}') as LoadSpec;
  runLoad(spec).then(
    (r) => process.stdout.write(JSON.stringify(r) + '\n'),
    (err: unknown) => {
      process.stderr.write(`load driver failed: ${String(err)}\n`);
      process.exit(1);
    },
  );
}
