/**
 * `npm run bench [-- --quick]`: measures, in one run and against the same upstream and load driver, the
 * upstream directly, nginx (mTLS, no token check), HAProxy (mTLS + native JWT and cnf check) and
 * fapi-gateway, in interleaved rounds (A B C A B C ...), and writes bench/results/*.json plus the Markdown
 * table docs/benchmarks.md embeds. Servers and the driver are pinned to separate cores with taskset.
 *
 * options.ts says what a run does, targets.ts starts the servers, scenarios.ts says what load goes where,
 * rounds.ts measures, objectives.ts and report.ts judge and tabulate, publish.ts writes the result.
 */
// First: @peculiar/x509 (the test PKI) needs the Reflect metadata API at load time (as in src/cli/main.ts).
import 'reflect-metadata';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { AuthorizationServerSpec } from './authorization-server.js';
import type { LoadSpec } from './load.js';
import { notesFor, targetChecks } from './objectives.js';
import { coreLayout, here, log, parseOptions, RESULTS, root } from './options.js';
import {
  createBenchPki,
  mintAccessToken,
  mintManyTokens,
  TOKEN_AUDIENCE,
  TOKEN_CLIENT_ID,
  TOKEN_ISSUER,
  TOKEN_SCOPE,
} from './pki.js';
import { createIssuerFixture } from './issuers.js';
import { hasCommand, reportedPort, setNiceness, spawnPinned } from './processes.js';
import { machineFacts, rebuildReport, writeProfiles, writeReport } from './publish.js';
import { summarize, type BenchReport } from './report.js';
import { roundRunner, runDriver, setFormDriver } from './rounds.js';
import { buildFormDriver } from './native.js';
import {
  OPAQUE_TOKENS_PER_ROUND,
  opaqueTokens,
  scenarioDefinitions,
  withConnectionCounts,
  type DpopFixture,
} from './scenarios.js';
import { runSoak, type SoakResult } from './soak.js';
import { hostileSoakTable, publishHostileSoak, runHostileSoak, SOAK_CONNECTION_CAP } from './hostile-soak.js';
import { soakIssuerSettings } from './hostile-traffic.js';
import {
  GATEWAY_CLIENT_ID,
  targetDefinitions,
  type Context,
  type Started,
  type TargetDef,
  type TargetId,
} from './targets.js';
import { createDpopKey, mintDpopProof } from '../test/helpers/dpop.js';
import { startJwksServer } from '../test/helpers/jwks-server.js';

async function main() {
  const opts = parseOptions(process.argv.slice(2));
  if (process.argv.includes('--rebuild-report')) {
    rebuildReport();
    return;
  }
  const layout = coreLayout();
  setNiceness(opts.nice);
  const formDriver = buildFormDriver(root, here);
  setFormDriver(formDriver.binary);
  log(
    formDriver.binary
      ? 'issuer scenarios with one form per request: the C driver (bench/native/form-driver.c)'
      : `issuer scenarios with one form per request: the JavaScript driver, as ${formDriver.reason}`,
  );
  const startedAt = Date.now();
  log(
    `${opts.quick ? 'quick' : 'full'} run; ${layout.cores} cores; driver on core(s) ${layout.driver ?? 'any'}, servers on ${layout.servers ?? 'any'}`,
  );

  const missing = ['nginx', 'haproxy', 'taskset'].filter((cmd) => !hasCommand(cmd));
  if (missing.length > 0) {
    log(
      `missing: ${missing.join(', ')}. Install with: sudo apt-get install -y ${missing.map((m) => (m === 'nginx' ? 'nginx-light' : m === 'taskset' ? 'util-linux' : m)).join(' ')} (the bench measures what is installed and lists the rest as not measured)`,
    );
  }
  if (!existsSync(path.join(root, 'node_modules', 'autocannon'))) {
    throw new Error('the load driver (autocannon) is not installed: run `npm ci` first');
  }

  const pki = await createBenchPki();
  const runDir = path.join(pki.files.dir, 'run');
  mkdirSync(runDir, { recursive: true });
  const token = await mintAccessToken(pki, { expiresIn: 7200 });
  // The soaks measure one or two servers alone: none of the matrix's token sets.
  const matrix = !opts.soakOnly && !opts.hostileSoak;
  const writeTokens = (name: string, tokens: string[]) => {
    const file = path.join(runDir, name);
    writeFileSync(file, JSON.stringify(tokens));
    return file;
  };
  const tokenSets: string[] = [];
  const opaqueTokenSets: string[] = [];
  // Rounds of (b), its warm-up, and rounds of its first-pass-only variant each get their own set; so do
  // (f)'s warm-up and rounds.
  for (let r = 0; r < (matrix ? 2 * opts.rounds + 1 : 0); r++)
    tokenSets.push(writeTokens(`tokens-${r}.json`, await mintManyTokens(pki, 10_000, 7200)));
  // Each further connection count of a sweep gets tokens of its own: (b) and its first pass must present
  // tokens the gateway has not verified at another count.
  const sweepTokenSets: string[][] = [tokenSets];
  for (const [i, count] of opts.connectionCounts.entries()) {
    if (i === 0 || !matrix) continue;
    const sets: string[] = [];
    for (let r = 0; r < 2 * opts.rounds + 1; r++)
      sets.push(writeTokens(`tokens-${count}-${r}.json`, await mintManyTokens(pki, 10_000, 7200)));
    sweepTokenSets.push(sets);
  }
  for (let r = 0; r < (matrix ? opts.rounds + 1 : 0); r++)
    opaqueTokenSets.push(writeTokens(`opaque-tokens-${r}.json`, opaqueTokens(OPAQUE_TOKENS_PER_ROUND)));
  const dpopKey = await createDpopKey('ES256');
  const dpop: DpopFixture = {
    key: dpopKey,
    token: await mintAccessToken(pki, { expiresIn: 7200, jkt: dpopKey.jkt }),
    dir: runDir,
  };
  log(
    `PKI, ${tokenSets.length} x 10,000 tokens and ${opaqueTokenSets.length} x ${OPAQUE_TOKENS_PER_ROUND} opaque tokens ready in ${pki.files.dir}`,
  );

  const cleanups: (() => Promise<void> | void)[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) await fn();
  };
  // Interrupted or killed: stop every server and remove the memory cgroups they ran in.
  process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
  process.on('SIGTERM', () => void cleanup().then(() => process.exit(143)));

  try {
    const upstream = spawnPinned('upstream', layout.servers, process.execPath, [
      path.join(here, 'upstream.js'),
    ]);
    cleanups.push(() => upstream.stop());
    const upstreamPort = await reportedPort(upstream);
    const jwks = await startJwksServer(pki, pki.jwks.keys);
    cleanups.push(() => jwks.close());

    const issuer = opts.soakOnly ? undefined : await createIssuerFixture(pki, runDir);
    if (issuer && opts.hostileSoak) issuer.settings = soakIssuerSettings(issuer, SOAK_CONNECTION_CAP);
    const scenarios = withConnectionCounts(
      (i) =>
        scenarioDefinitions({
          tokenSets: sweepTokenSets[i] ?? tokenSets,
          opaqueTokenSets,
          dpop,
          issuer,
        }).filter(
          (s) =>
            matrix && (opts.scenarios ? opts.scenarios.includes(s.id) : !(opts.quick && s.fullOnly === true)),
        ),
      opts.connectionCounts,
    );
    const wanted = new Set<TargetId>(
      opts.hostileSoak
        ? ['gateway', 'issuer']
        : opts.soakOnly
          ? ['gateway']
          : scenarios.flatMap((s) => s.targets),
    );

    let introspectionUrl: string | undefined;
    if (wanted.has('gateway-introspection')) {
      const spec: AuthorizationServerSpec = {
        serverCert: pki.files.serverCert,
        serverKey: pki.files.serverKey,
        caCert: pki.files.caCert,
        gatewayClientId: GATEWAY_CLIENT_ID,
        gatewayThumbprint: pki.gatewayClient.thumbprint,
        tokenFiles: opaqueTokenSets,
        claims: {
          iss: TOKEN_ISSUER,
          aud: TOKEN_AUDIENCE,
          client_id: TOKEN_CLIENT_ID,
          sub: 'user-1',
          scope: TOKEN_SCOPE,
          cnf: { 'x5t#S256': pki.clientThumbprint },
        },
        expiresInSeconds: 7200,
      };
      const as = spawnPinned('authorization-server', layout.servers, process.execPath, [
        path.join(here, 'authorization-server.js'),
        JSON.stringify(spec),
      ]);
      cleanups.push(() => as.stop());
      introspectionUrl = `https://localhost:${await reportedPort(as)}/introspect`;
    }

    const ctx: Context = {
      pki,
      upstreamPort,
      jwksUrl: jwks.url,
      introspectionUrl,
      runDir,
      layout,
      token,
      dpopHeaders: async (url) => ({
        authorization: `DPoP ${dpop.token}`,
        dpop: await mintDpopProof(dpop.key, { htm: 'GET', htu: url, accessToken: dpop.token }),
      }),
      profileDir: opts.profile ? path.join(runDir, 'profiles') : undefined,
      options: opts,
      issuer,
      ...(opts.hostileSoak ? { gatewaySettings: { limits: { maxConnections: SOAK_CONNECTION_CAP } } } : {}),
    };

    // --quick leaves out the forwarding-library comparison (ask for it with --targets=forward-...).
    const defs = targetDefinitions(ctx).filter(
      (t) =>
        wanted.has(t.id) &&
        (opts.targets ? opts.targets.includes(t.id) : !(opts.quick && t.id.startsWith('forward-'))),
    );
    const started = new Map<TargetId, Started>();
    const unavailable: Record<string, string> = {};
    for (const def of defs) {
      try {
        const s = await def.start();
        started.set(def.id, s);
        cleanups.push(() => s.running.stop());
        log(`${def.label} serving at ${s.url} (pid ${s.running.pid})`);
      } catch (err) {
        unavailable[def.label] = err instanceof Error ? err.message : String(err);
        log(`${def.label} not measured: ${unavailable[def.label]}`);
      }
    }
    const byId = new Map(defs.map((d) => [d.id, d]));

    if (opts.hostileSoak) {
      const [g, i] = [started.get('gateway'), started.get('issuer')];
      if (!g || !i || !issuer) throw new Error('the hostile soak needs the gateway and the issuer running');
      const result = await runHostileSoak(issuer, g, i, opts, layout);
      const file = publishHostileSoak(result, opts.updateDocs);
      process.stdout.write(hostileSoakTable());
      log(
        `wrote bench/results/${file}: ${JSON.stringify({ gateway: result.gateway, issuer: result.issuer })}`,
      );
      return;
    }

    const baseSpec = (def: TargetDef, url: string): LoadSpec => ({
      url,
      connections: opts.connections,
      durationSeconds: opts.durationSeconds,
      maxRequests: opts.durationSeconds * 200_000,
      settleSeconds: opts.quick ? 0.4 : 1,
      ...(def.mtls ? { token, tls: { cert: pki.files.clientCert, key: pki.files.clientKey } } : {}),
    });
    // A Node process compiles its request path over its first tens of thousands of requests: 4-8 s into
    // scenario (a), TurboFan still took ~10% of the gateway's CPU (perf), none 16 s in. A gateway in
    // production is long past that, so each Node forwarding target first serves (a)'s load unmeasured.
    if (opts.processWarmupSeconds > 0) {
      for (const [id, s] of started) {
        if (!['gateway', 'gateway-compare', 'gateway-workers'].includes(id) && !id.startsWith('forward-'))
          continue;
        const def = byId.get(id)!;
        await runDriver(
          { ...baseSpec(def, s.url), durationSeconds: opts.processWarmupSeconds },
          layout.driver,
        );
        log(`${def.label}: ${opts.processWarmupSeconds} s of unmeasured load after start`);
      }
    }
    const runner = roundRunner(opts, layout.driver, started, baseSpec);
    for (const scenario of scenarios) {
      await runner.runScenario(
        scenario,
        scenario.targets.filter((id) => started.has(id)).map((id) => byId.get(id)!),
      );
    }
    const rateScenarios = await runner.runRateScenarios(byId);
    const rounds = runner.rounds;

    let soak: SoakResult | undefined;
    if (opts.soak && started.has('gateway')) {
      for (const [id, s] of started) if (id !== 'gateway') await s.running.stop();
      soak = await runSoak(ctx, started.get('gateway')!, opts, layout.driver);
      if (opts.soakOnly) {
        mkdirSync(RESULTS, { recursive: true });
        const record = {
          date: new Date().toISOString(),
          machine: machineFacts(opts.gatewayNode),
          gateway: opts.gatewayCli,
          ...soak,
        };
        writeFileSync(path.join(RESULTS, 'soak.json'), JSON.stringify(record, null, 2) + '\n');
        log(`wrote bench/results/soak.json: ${JSON.stringify(soak)}`);
        return;
      }
    }
    // The memory soak takes longer than the 15-minute budget allows next to the matrix on a small
    // machine, so a full run reports the latest separate `--soak-only` run.
    const soakFile = path.join(RESULTS, 'soak.json');
    const soakNote =
      !soak && !opts.quick && existsSync(soakFile)
        ? (JSON.parse(readFileSync(soakFile, 'utf8')) as SoakResult & { date: string })
        : undefined;
    if (soakNote) soak = soakNote;

    if (ctx.profileDir) await writeProfiles(ctx.profileDir, started);

    const summaries: BenchReport['summaries'] = {};
    for (const [sid, byTarget] of Object.entries(rounds)) {
      summaries[sid] = {};
      for (const [tid, rs] of Object.entries(byTarget)) summaries[sid][tid] = summarize(rs);
    }
    const report: BenchReport = {
      date: new Date().toISOString(),
      mode: opts.quick ? 'quick' : 'full',
      machine: machineFacts(opts.gatewayNode),
      settings: {
        rounds: opts.rounds,
        durationSeconds: opts.durationSeconds,
        warmupSeconds: opts.warmupSeconds,
        processWarmupSeconds: opts.processWarmupSeconds,
        connections: opts.connections,
        connectionCounts: opts.connectionCounts,
        pinning: layout.pin
          ? `Load driver (autocannon) pinned to core ${layout.driver}; upstream and each server under test pinned to core(s) ${layout.servers} (nginx ${layout.serverCoreCount} worker(s), HAProxy ${layout.serverCoreCount} thread(s), fapi-gateway 1 process); fapi-gateway workers=${layout.cores} runs on all cores, shared with the driver.`
          : 'No pinning (taskset missing or a single core).',
        memoryLimit: ctx.memoryLimitApplied
          ? `fapi-gateway ran as in a pod with the Helm chart's memory limit (${ctx.options.memoryLimitMiB} MiB, a cgroup), which Node sizes its heap from; node flags: ${opts.gatewayNodeFlags.join(' ') || 'none'}.`
          : `fapi-gateway ran without a memory limit (${ctx.options.memoryLimitMiB > 0 ? 'no cgroup memory controller or not root' : '--memory-limit=0'}); node flags: ${opts.gatewayNodeFlags.join(' ') || 'none'}.`,
        niceness: opts.nice,
        tokenAlgorithm: 'ES256',
        wallSeconds: Math.round((Date.now() - startedAt) / 1000),
      },
      scenarios: [...scenarios, ...rateScenarios].map((s) => ({
        id: s.id,
        title: s.title,
      })),
      targets: defs.map((d) => ({ id: d.id, label: d.label })),
      summaries,
      rounds,
      unavailable,
      checks: targetChecks(
        summaries,
        soak,
        defs.map((d) => ({ id: d.id, label: d.label })),
        opts.connectionCounts,
      ),
      soak,
      notes: [
        ...notesFor(summaries),
        ...(soakNote
          ? [`Memory: from the separate \`npm run bench -- --soak-only\` run of ${soakNote.date}.`]
          : []),
      ],
    };
    report.settings.wallSeconds = Math.round((Date.now() - startedAt) / 1000);
    const filtered = opts.scenarios !== undefined || opts.targets !== undefined;
    const name = filtered ? 'partial' : opts.quick ? 'quick' : 'latest';
    const table = writeReport(report, name, opts.updateDocs);
    process.stdout.write(table);
    log(`wrote bench/results/${name}.json and ${name}.md in ${report.settings.wallSeconds as number} s`);
  } finally {
    await cleanup();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
