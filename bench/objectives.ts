/**
 * What a run is judged by: the objectives (ratios against the peers, p99 at a moderate rate, memory) and
 * the notes under the table (forwarding libraries, cache shares, what (e) and (f) cost against (a) and
 * (b), whether the driver was the limit). Pure functions over the summaries.
 */
import { FORWARDER_MODES } from './forwarders.js';
import { ratio, REDIS_SCENARIO, type BenchReport, type TargetCheck } from './report.js';
import { RATE_FRACTIONS } from './rounds.js';
import type { SoakResult } from './soak.js';

export function targetChecks(
  s: BenchReport['summaries'],
  soak: SoakResult | undefined,
  targets: readonly { id: string; label: string }[] = [],
  connectionCounts: readonly number[] = [],
): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const labelOf = (id: string) =>
    targets.find((t) => t.id === id)?.label ??
    (id === 'gateway' ? 'fapi-gateway (1 process)' : 'fapi-gateway (workers)');
  const rpsRatio = (scenario: string, peer: string, required: number, target = 'gateway', suffix = '') => {
    const r = ratio(s[scenario + suffix]?.[target]?.rps, s[scenario + suffix]?.[peer]?.rps);
    if (r === undefined && suffix !== '') return;
    checks.push({
      target: `${labelOf(target)} / ${peer === 'haproxy' ? 'HAProxy' : 'nginx'} req/s${scenario === 'b-cold' ? ', first pass only (no cache hits)' : ''}`,
      scenario: scenario + suffix,
      measured: r === undefined ? 'n/a' : `${r.toFixed(2)}x`,
      required: `>= ${required.toFixed(1)}x`,
      met: r === undefined ? null : r >= required,
    });
  };
  const p99AtRate = (id: string, words: string, target: string, suffix: string) => {
    const gw = s[id + suffix]?.[target]?.p99;
    const ha = s[id + suffix]?.haproxy?.p99;
    if ((gw === undefined || ha === undefined) && (suffix !== '' || target !== 'gateway')) return;
    checks.push({
      target: `${labelOf(target)} p99 at ${words} HAProxy max rate`,
      scenario: id + suffix,
      measured:
        gw === undefined || ha === undefined ? 'n/a' : `${gw.toFixed(2)} ms vs HAProxy ${ha.toFixed(2)} ms`,
      required: "<= HAProxy's p99",
      met: gw === undefined || ha === undefined ? null : gw <= ha,
    });
  };
  // The gateway's objectives hold for every connection count and for each Node it ran on.
  const suffixes =
    connectionCounts.length > 1 ? connectionCounts.map((c, i) => (i === 0 ? '' : `@${c}`)) : [''];
  const gateways = [
    'gateway',
    ...(targets.some((t) => t.id === 'gateway-compare') ? ['gateway-compare'] : []),
  ];
  for (const suffix of suffixes) {
    for (const target of gateways) {
      rpsRatio('a', 'haproxy', 1.5, target, suffix);
      rpsRatio('a', 'nginx', 0.6, target, suffix);
      for (const [, name, words] of RATE_FRACTIONS) p99AtRate(`a-${name}`, words, target, suffix);
      rpsRatio('b', 'haproxy', 1.0, target, suffix);
      rpsRatio('b-cold', 'haproxy', 0.9, target, suffix);
    }
  }
  rpsRatio('c', 'nginx', 0.8);
  checks.push(...issuerChecks(s));
  checks.push(...redisStoreChecks(s));
  checks.push({
    target: 'RSS after 1M requests / 100k tokens',
    scenario: 'soak',
    measured: soak ? `${soak.rssAfterMillionMiB} MiB (max ${soak.maxRssMiB})` : 'n/a',
    required: '<= 150 MiB per process',
    met: soak ? soak.maxRssMiB <= 150 : null,
  });
  checks.push({
    target: 'RSS flat over further load',
    scenario: 'soak',
    measured: soak ? `${soak.flatWithinPercent}% over ${soak.rssSeriesMiB.length - 1} min` : 'n/a',
    required: 'within 10%',
    met: soak ? soak.flatWithinPercent <= 10 : null,
  });
  return checks;
}

export function notesFor(s: BenchReport['summaries']): string[] {
  const notes: string[] = [];
  const forwarders = FORWARDER_MODES.map((m) => ({ mode: m, rps: s.a?.[`forward-${m}`]?.rps })).filter(
    (f) => f.rps !== undefined,
  );
  if (forwarders.length > 1) {
    forwarders.sort((x, y) => y.rps! - x.rps!);
    notes.push(
      `Forwarding libraries (mTLS listener, no token check, scenario a): ${forwarders.map((f) => `${f.mode} ${f.rps!.toLocaleString('en-US')} req/s`).join(', ')}.`,
    );
  }
  const hits = (sid: string) => s[sid]?.gateway?.cacheHitPercent;
  if (hits('b') !== undefined) {
    notes.push(
      `Verification cache: in (b) fapi-gateway served ${hits('b')}% of requests from its cache (each round brings 10,000 tokens it has never seen: the first use of each misses, later passes of the round-robin hit, as a client's repeated use of its token does)${hits('b-cold') === undefined ? '' : `; in the first-pass-only run, ${hits('b-cold')}%`}. HAProxy verifies the signature on every request.`,
    );
  }
  const times = (a: number | undefined, b: number | undefined) => {
    const r = ratio(a, b);
    return r === undefined ? 'n/a' : `${r.toFixed(2)}x`;
  };
  const dpop = s.e?.['gateway-dpop'];
  if (dpop) {
    notes.push(
      `DPoP (e): every request carried a proof the gateway had never seen, so each was verified in full (signature with the proof's own key, typ, alg, htm, htu, iat, ath, cnf.jkt, jti recorded in the replay store); the access token's own verification came from the cache as in (a). ${dpop.rps.toLocaleString('en-US')} req/s at ${dpop.cpuUsPerRequest} µs CPU per request: ${times(dpop.rps, s.a?.gateway?.rps)} the gateway's (a) rate (${s.a?.gateway?.cpuUsPerRequest ?? 'n/a'} µs), ${times(dpop.rps, s.a?.haproxy?.rps)} HAProxy's and ${times(dpop.rps, s.a?.nginx?.rps)} nginx's (a) rate. No peer here can do this work (HAProxy's jwt_verify takes its key from a file, not from the proof's jwk header; nginx has no JWT check), so (e) is reported alone.`,
    );
  }
  const opaque = s.f?.['gateway-introspection'];
  if (opaque) {
    notes.push(
      `Introspection (f): ${opaque.cacheHitPercent === undefined ? 'the cache share was not measured' : `the gateway's introspection cache answered ${opaque.cacheHitPercent}% of requests`}; each remaining first use of a token cost one RFC 7662 call (tls_client_auth over keep-alive mTLS) to the stub authorization server, a separate process pinned beside the upstream whose CPU is not in the gateway's figure. ${opaque.rps.toLocaleString('en-US')} req/s at ${opaque.cpuUsPerRequest} µs CPU per request: ${times(opaque.rps, s.a?.gateway?.rps)} the gateway's (a) rate with one JWT (${s.a?.gateway?.cpuUsPerRequest ?? 'n/a'} µs) and ${times(opaque.rps, s.b?.gateway?.rps)} its (b) rate with 10,000 JWTs (${s.b?.gateway?.cpuUsPerRequest ?? 'n/a'} µs); ${times(opaque.rps, s.a?.haproxy?.rps)} HAProxy's (a) rate. No peer here introspects tokens (nginx's auth_request cannot send an RFC 7662 form; HAProxy 2.6 only with a Lua script), so (f) is reported alone.`,
    );
  }
  const driverPeak = (keep: (target: string) => boolean) =>
    Math.max(
      0,
      ...Object.values(s).flatMap((byTarget) =>
        Object.entries(byTarget)
          .filter(([target]) => keep(target))
          .map(([, x]) => x.driverCpuPercent),
      ),
    );
  const direct = driverPeak((target) => target === 'direct');
  notes.push(
    `Load driver CPU peaked at ${driverPeak((target) => target !== 'direct')}% of its core against the proxies (near 100% would mean the driver, not the target, was the limit)${direct > 0 ? `; ${direct}% against the upstream directly, so that row is a lower bound of the ceiling` : ''}.`,
  );
  return notes;
}

/**
 * The issuer against node-oidc-provider, per scenario: tokens (or introspections) per second, and the
 * inverse ratio of server CPU per token, the steadier figure when other work shares the machine.
 */
export function issuerChecks(s: BenchReport['summaries']): TargetCheck[] {
  return ['i1', 'i2', 'i3'].flatMap((scenario): TargetCheck[] => {
    const ours = s[scenario]?.issuer;
    const peer = s[scenario]?.['oidc-provider'];
    if (!ours || !peer) return [];
    const rps = ratio(ours.rps, peer.rps);
    const cpu = ratio(peer.cpuUsPerRequest, ours.cpuUsPerRequest);
    return [
      {
        target: "fapi-gateway's issuer / node-oidc-provider tokens/s",
        scenario,
        measured: rps === undefined ? 'n/a' : `${rps.toFixed(2)}x`,
        required: '>= 1.5x',
        met: rps === undefined ? null : rps >= 1.5,
      },
      {
        target: "node-oidc-provider / fapi-gateway's issuer CPU µs per token",
        scenario,
        measured:
          cpu === undefined
            ? 'n/a'
            : `${cpu.toFixed(2)}x (${ours.cpuUsPerRequest} vs ${peer.cpuUsPerRequest} µs)`,
        required: '>= 1.5x',
        met: cpu === undefined ? null : cpu >= 1.5,
      },
    ];
  });
}

/**
 * The issuer's Redis store against its memory store on one replica (tokens/s, with CPU per token beside
 * it), and two replicas sharing one Redis against one replica on Redis.
 */
export function redisStoreChecks(s: BenchReport['summaries']): TargetCheck[] {
  const byTarget = s[REDIS_SCENARIO];
  if (!byTarget) return [];
  const { issuer: memory, 'issuer-redis': redis, 'issuer-redis-2': two } = byTarget;
  const checks: TargetCheck[] = [];
  const onRedis = ratio(redis?.rps, memory?.rps);
  checks.push({
    target: "fapi-gateway's issuer, Redis store / memory store tokens/s (1 process)",
    scenario: REDIS_SCENARIO,
    measured:
      onRedis === undefined
        ? 'n/a'
        : `${onRedis.toFixed(2)}x (CPU µs/token ${redis!.cpuUsPerRequest} vs ${memory!.cpuUsPerRequest})`,
    required: '>= 0.85x',
    met: onRedis === undefined ? null : onRedis >= 0.85,
  });
  const scaled = ratio(two?.rps, redis?.rps);
  checks.push({
    target: "fapi-gateway's issuer, 2 processes / 1 process on one Redis tokens/s",
    scenario: REDIS_SCENARIO,
    measured: scaled === undefined ? 'n/a' : `${scaled.toFixed(2)}x`,
    required: '>= 1.6x',
    met: scaled === undefined ? null : scaled >= 1.6,
  });
  return checks;
}
