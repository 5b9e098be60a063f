/**
 * The Redis behind the issuer's Redis-backed targets: Debian's redis-server on a free loopback port with
 * persistence off, pinned like the other servers, one per target (so one target's commands never count
 * for another); and its per-command call counters (`INFO commandstats`), read around each measured window
 * to count Redis round trips per token request.
 */
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { freePort, spawnPinned, type Running } from './processes.js';

export const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';

export interface BenchRedis {
  running: Running;
  url: string;
  /** Calls per command since the server started, the counters' own `INFO` calls left out. */
  calls(): Promise<Record<string, number>>;
  /** Socket reads the server processed since it started (`INFO stats` total_reads_processed). */
  reads(): Promise<number>;
  stop(): Promise<void>;
}

/** Parses `INFO commandstats` (`cmdstat_set:calls=12,usec=...`) into calls per command. */
export function commandCalls(info: string): Record<string, number> {
  const calls: Record<string, number> = {};
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    if (m[1] !== 'info') calls[m[1]!] = Number(m[2]);
  }
  return calls;
}

/**
 * Calls per request of each command between two counter readings. A Lua script run by `EVALSHA` is one
 * round trip (its inner commands are not counted separately by Redis either).
 */
export function callsPerRequest(
  before: Record<string, number>,
  after: Record<string, number>,
  requests: number,
): { total: number; byCommand: Record<string, number> } {
  const byCommand: Record<string, number> = {};
  let total = 0;
  if (requests <= 0) return { total, byCommand };
  for (const [command, n] of Object.entries(after)) {
    const delta = n - (before[command] ?? 0);
    if (delta <= 0) continue;
    total += delta;
    byCommand[command] = Math.round((delta / requests) * 1000) / 1000;
  }
  return { total: Math.round((total / requests) * 1000) / 1000, byCommand };
}

/** Socket reads per request, to the thousandth. */
export function readsPerRequest(reads: number, requests: number): number {
  return requests > 0 ? Math.round((Math.max(0, reads) / requests) * 1000) / 1000 : 0;
}

export async function startBenchRedis(name: string, cores: string | undefined): Promise<BenchRedis> {
  const port = await freePort();
  const running = spawnPinned(name, cores, REDIS_SERVER, [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--daemonize',
    'no',
  ]);
  const lines = createInterface({ input: running.child.stdout! });
  const timer = setTimeout(() => lines.close(), 20_000);
  let ready = false;
  for await (const line of lines) {
    if (line.includes('Ready to accept connections')) {
      ready = true;
      break;
    }
  }
  clearTimeout(timer);
  running.child.stdout!.resume();
  if (!ready) {
    await running.stop();
    throw new Error(`${REDIS_SERVER} did not start on port ${port} within 20 s`);
  }
  // No ready check: ioredis's own INFO would count as the target's traffic.
  const client = new Redis({ host: '127.0.0.1', port, enableReadyCheck: false, maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  return {
    running,
    url: `redis://127.0.0.1:${port}`,
    calls: async () => commandCalls(await client.info('commandstats')),
    reads: async () => Number(/^total_reads_processed:(\d+)/m.exec(await client.info('stats'))?.[1] ?? NaN),
    async stop() {
      client.disconnect();
      await running.stop();
    },
  };
}
