/**
 * A real `redis-server` (Debian's, /usr/bin/redis-server) for tests: a free loopback port, persistence
 * off, optional requirepass, ACL users and TLS. It can be stopped and started again on the same port
 * (outage tests) and paused (a server that accepts connections but never answers).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';

const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';

export interface RedisAclUser {
  name: string;
  password: string;
  /** ACL rules after `on >password` (default: every key, channel and command). */
  rules?: string;
}

export interface RedisServerOptions {
  /** Password of the `default` user. */
  requirePass?: string;
  users?: RedisAclUser[];
  /** Serve TLS only (no plain port), with this server certificate. */
  tls?: { certFile: string; keyFile: string; caFile: string };
}

export interface TestRedisServer {
  port: number;
  /** `redis://127.0.0.1:PORT` (or `rediss://localhost:PORT` with TLS). */
  url: string;
  running(): boolean;
  /** Stops the server (SIGTERM by default; SIGKILL for a crash) and waits for it to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port with the same settings (empty: persistence is off). */
  start(): Promise<void>;
  /** SIGSTOP: connections stay open but nothing answers (commands time out). */
  pause(): void;
  resume(): void;
  /** A client for assertions (as the `default` user, or the first ACL user). */
  admin(): Redis;
  /** Stops the server and removes its folder. */
  close(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function configText(port: number, dir: string, o: RedisServerOptions): string {
  const lines = [
    'bind 127.0.0.1',
    'protected-mode no',
    'save ""',
    'appendonly no',
    `dir ${dir}`,
    'daemonize no',
    'logfile ""',
    'loglevel notice',
  ];
  if (o.tls) {
    lines.push(
      'port 0',
      `tls-port ${port}`,
      `tls-cert-file ${o.tls.certFile}`,
      `tls-key-file ${o.tls.keyFile}`,
      `tls-ca-cert-file ${o.tls.caFile}`,
      'tls-auth-clients no',
    );
  } else lines.push(`port ${port}`);
  if (o.requirePass !== undefined) lines.push(`requirepass ${o.requirePass}`);
  for (const u of o.users ?? []) lines.push(`user ${u.name} on >${u.password} ${u.rules ?? '~* &* +@all'}`);
  return lines.join('\n') + '\n';
}

export async function startRedisServer(options: RedisServerOptions = {}): Promise<TestRedisServer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'fapi-redis-'));
  let port = 0;
  let child: ChildProcess | undefined;
  const admins: Redis[] = [];

  const launch = async (): Promise<void> => {
    const conf = path.join(dir, 'redis.conf');
    writeFileSync(conf, configText(port, dir, options));
    const proc = spawn(REDIS_SERVER, [conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        proc.kill('SIGKILL');
        reject(new Error(`redis-server did not start in 20 s:\n${output}`));
      }, 20_000);
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (/Ready to accept connections/.test(output)) {
          clearTimeout(timer);
          proc.stdout?.off('data', onData);
          proc.stdout?.resume();
          resolve();
        }
      };
      proc.stdout?.on('data', onData);
      proc.stderr?.on('data', (c: Buffer) => (output += c.toString()));
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited (${code}) at start:\n${output}`));
      });
    });
  };

  // A port taken between freePort() and the bind is retried with another one.
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      await launch();
      break;
    } catch (err) {
      if (attempt >= 5 || !/Address already in use/.test(String(err))) throw err;
    }
  }

  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGCONT');
    proc.kill(signal);
    await exited;
  };

  const host = options.tls ? 'localhost' : '127.0.0.1';
  return {
    port,
    url: `${options.tls ? 'rediss' : 'redis'}://${host}:${port}`,
    running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    stop,
    start: launch,
    pause: () => child?.kill('SIGSTOP'),
    resume: () => child?.kill('SIGCONT'),
    admin() {
      const user = options.users?.[0];
      const client = new Redis({
        host: '127.0.0.1',
        port,
        ...(user ? { username: user.name, password: user.password } : {}),
        ...(!user && options.requirePass !== undefined ? { password: options.requirePass } : {}),
        ...(options.tls ? { tls: { ca: readFileSync(options.tls.caFile), servername: 'localhost' } } : {}),
        maxRetriesPerRequest: 1,
      });
      client.on('error', () => {});
      admins.push(client);
      return client;
    },
    async close() {
      for (const a of admins) a.disconnect();
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
