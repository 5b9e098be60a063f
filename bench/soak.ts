/**
 * The memory soak (`--soak-only`): one gateway process loaded with 1,000,000 requests over 100,000
 * distinct tokens, then N more minutes, sampling its RSS from /proc and its own heap metrics.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { LoadSpec } from './load.js';
import { log, type Options } from './options.js';
import { mintManyTokens } from './pki.js';
import { processTree } from './proc-stats.js';
import { runDriver } from './rounds.js';
import type { Context, Started } from './targets.js';

export interface SoakResult {
  requests: number;
  distinctTokens: number;
  rssAfterMillionMiB: number;
  rssSeriesMiB: { minute: number; rssMiB: number; gateway?: Record<string, number> }[];
  maxRssMiB: number;
  flatWithinPercent: number;
  non2xx: number;
  errors: number;
}

/** The gateway's own view of its memory (prom-client default metrics), MiB. */
async function gatewayMemory(adminUrl: string | undefined): Promise<Record<string, number> | undefined> {
  if (!adminUrl) return undefined;
  try {
    const text = await (await fetch(`${adminUrl}/metrics`)).text();
    const pick = (name: string) => {
      const m = new RegExp(`^fapi_gateway_${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(text);
      return m ? Math.round((Number(m[1]) / 1048576) * 10) / 10 : NaN;
    };
    return {
      rss: pick('process_resident_memory_bytes'),
      heapTotal: pick('nodejs_heap_size_total_bytes'),
      heapUsed: pick('nodejs_heap_size_used_bytes'),
      external: pick('nodejs_external_memory_bytes'),
    };
  } catch {
    return undefined;
  }
}

/** Memory: 1,000,000 requests over 100,000 distinct tokens, then N more minutes of load. */
export async function runSoak(
  ctx: Context,
  gateway: Started,
  opts: Options,
  driverCores: string | undefined,
): Promise<SoakResult> {
  log('soak: minting 100,000 tokens');
  const file = path.join(ctx.runDir, 'tokens-soak.json');
  writeFileSync(file, JSON.stringify(await mintManyTokens(ctx.pki, 100_000, 7200)));
  const base: LoadSpec = {
    url: gateway.url,
    connections: opts.connections,
    durationSeconds: 900,
    maxRequests: opts.soakRequests,
    tokensFile: file,
    tls: { cert: ctx.pki.files.clientCert, key: ctx.pki.files.clientKey },
  };
  const pids = processTree(gateway.running.pid);
  const rssMiB = () => {
    let max = 0;
    for (const pid of pids) {
      try {
        const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
        max = Math.max(max, m ? Number(m[1]) / 1024 : 0);
      } catch {
        // exited
      }
    }
    return Math.round(max * 10) / 10;
  };
  log(`soak: ${opts.soakRequests} requests`);
  const first = await runDriver(base, driverCores);
  const rssAfterMillionMiB = rssMiB();
  log(`soak: ${first.requests} requests, RSS ${rssAfterMillionMiB} MiB; ${opts.soakMinutes} more minute(s)`);
  const series = [{ minute: 0, rssMiB: rssAfterMillionMiB, gateway: await gatewayMemory(gateway.adminUrl) }];
  log(`soak: gateway's own view (MiB): ${JSON.stringify(series[0]!.gateway)}`);
  let non2xx = first.non2xx;
  let errors = first.errors + first.timeouts;
  let requests = first.requests;
  for (let minute = 1; minute <= opts.soakMinutes; minute++) {
    const r = await runDriver({ ...base, durationSeconds: 60, maxRequests: 60 * 200_000 }, driverCores);
    requests += r.requests;
    non2xx += r.non2xx;
    errors += r.errors + r.timeouts;
    series.push({ minute, rssMiB: rssMiB(), gateway: await gatewayMemory(gateway.adminUrl) });
    log(
      `soak: minute ${minute}: ${r.rps} req/s, RSS ${series.at(-1)!.rssMiB} MiB ${JSON.stringify(series.at(-1)!.gateway)}`,
    );
  }
  const values = series.map((s) => s.rssMiB);
  const maxRssMiB = Math.max(...values);
  return {
    requests,
    distinctTokens: 100_000,
    rssAfterMillionMiB,
    rssSeriesMiB: series,
    maxRssMiB,
    flatWithinPercent: Math.round(((maxRssMiB - Math.min(...values)) / rssAfterMillionMiB) * 1000) / 10,
    non2xx,
    errors,
  };
}
