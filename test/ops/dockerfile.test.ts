/**
 * The Dockerfile: linted by dockerfile-utils (the validator behind the VS Code Docker extension) and held
 * to the image's promises: multi-stage, Node 24 LTS pinned, production dependencies only, non-root numeric
 * user matching the chart, signals through tini, the listener and admin ports, OCI labels, a context that
 * cannot carry local key material.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { validate } from 'dockerfile-utils';
import { parse as parseYaml } from 'yaml';
import { dockerfilePath, execForm, readDockerfile, type Stage } from '../helpers/dockerfile.js';
import { repoRoot } from '../helpers/helm.js';
import { gatewayConfigSchema } from '../../src/gateway/config.js';

const text = readFileSync(dockerfilePath, 'utf8');
const { args, stages } = readDockerfile(text);
const runtime = stages[stages.length - 1]!;
const all = (s: Stage, keyword: string) => s.instructions.filter((i) => i.keyword === keyword);
const last = (s: Stage, keyword: string) => all(s, keyword).at(-1);

t.test('dockerfile-utils finds no problem, with every optional check raised to an error', (t) => {
  const ERROR = 2;
  const diagnostics = validate(text, {
    deprecatedMaintainer: ERROR,
    directiveCasing: ERROR,
    emptyContinuationLine: ERROR,
    instructionCasing: ERROR,
    instructionCmdMultiple: ERROR,
    instructionEntrypointMultiple: ERROR,
    instructionHealthcheckMultiple: ERROR,
    instructionJSONInSingleQuotes: ERROR,
    instructionWorkdirRelative: ERROR,
  });
  t.same(
    diagnostics.map((d) => `line ${d.range.start.line + 1}: ${JSON.stringify(d.message)}`),
    [],
  );
  // The linter is live: it reports a broken file.
  t.ok(validate('FROM node:24\nCOPY onlyone\nWORKDIR relative\n').length >= 2);
  t.end();
});

t.test('multi-stage on a pinned Node 24 LTS base image', (t) => {
  t.ok(stages.length >= 2, 'a build stage and a runtime stage');
  t.same(
    stages.map((s) => s.name),
    ['build', 'runtime'],
  );
  for (const s of stages) t.equal(s.from, '${NODE_IMAGE}', `${s.name} uses the one pinned base`);
  t.match(
    args.get('NODE_IMAGE'),
    /^node:24\.\d+\.\d+-bookworm-slim(@sha256:[0-9a-f]{64})?$/,
    'exact Node 24 version',
  );
  t.notMatch(text, /:latest\b/);
  t.same(all(runtime, 'ADD'), [], 'no ADD (COPY only)');
  t.end();
});

t.test(
  'the runtime stage installs production dependencies only and copies only dist/ from the build',
  (t) => {
    const runs = all(runtime, 'RUN').map((i) => i.args);
    const npmCi = runs.find((r) => /\bnpm ci\b/.test(r));
    t.ok(npmCi, 'npm ci in the runtime stage');
    t.match(npmCi, /--omit=dev/);
    t.match(npmCi, /--ignore-scripts/);
    t.notMatch(text, /\bnpm install\b/, 'npm ci only (lockfile-exact)');
    const copies = all(runtime, 'COPY').map((i) => i.args);
    t.same(copies, ['package.json package-lock.json ./', '--from=build /src/dist ./dist']);
    t.ok(
      all(stages[0]!, 'RUN').some((i) => i.args === 'npm run build'),
      'dist/ is built in the build stage',
    );
    t.end();
  },
);

t.test('non-root numeric user, the same uid the chart runs as', (t) => {
  const user = last(runtime, 'USER')?.args ?? '';
  t.match(user, /^\d+:\d+$/, 'numeric uid:gid (runAsNonRoot can verify it)');
  const [uid, gid] = user.split(':').map(Number);
  t.ok(uid! > 0 && gid! > 0);
  const values = parseYaml(readFileSync(path.join(repoRoot, 'charts/fapi-gateway/values.yaml'), 'utf8')) as {
    securityContext: { runAsUser: number; runAsGroup: number };
  };
  t.equal(values.securityContext.runAsUser, uid);
  t.equal(values.securityContext.runAsGroup, gid);
  // Files under /app are copied as root before USER: the runtime user cannot rewrite its own code.
  const userIndex = runtime.instructions.findIndex((i) => i.keyword === 'USER');
  t.ok(
    runtime.instructions.every((i, n) => n < userIndex || !['COPY', 'RUN'].includes(i.keyword)),
    'nothing is copied or run after USER',
  );
  t.end();
});

t.test('signals reach node through tini; the default command runs the gateway on the chart paths', (t) => {
  const entrypoint = execForm(last(runtime, 'ENTRYPOINT'));
  t.same(entrypoint, ['/usr/bin/tini', '--', 'node', '/app/dist/cli/main.js']);
  t.ok(
    all(runtime, 'RUN').some((i) => /apt-get install -y --no-install-recommends tini/.test(i.args)),
    'tini is installed',
  );
  t.equal(last(runtime, 'STOPSIGNAL')?.args, 'SIGTERM');
  t.same(execForm(last(runtime, 'CMD')), ['gateway', '--config', '/etc/fapi-gateway/config/gateway.yaml']);
  t.end();
});

t.test("EXPOSE names the gateway's default listener and admin ports", (t) => {
  const exposed = all(runtime, 'EXPOSE').flatMap((i) => i.args.split(/\s+/));
  const defaults = gatewayConfigSchema.parse({
    tls: { cert: 'c', key: 'k', clientCa: 'ca' },
    upstream: { url: 'http://u' },
    tokens: { issuer: 'i', audience: 'a', jwksUri: 'https://i/jwks' },
    routes: [{ path: '/' }],
  });
  t.same(exposed, [String(defaults.listen.port), String(defaults.admin.port)]);
  t.same(exposed, ['8443', '9464']);
  t.end();
});

t.test('OCI labels', (t) => {
  const labels = all(runtime, 'LABEL')
    .map((i) => i.args)
    .join(' ');
  const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { license: string };
  for (const key of ['title', 'description', 'source', 'licenses', 'version', 'revision', 'created']) {
    t.match(labels, `org.opencontainers.image.${key}=`, key);
  }
  t.match(labels, `org.opencontainers.image.licenses="${pkg.license}"`);
  t.end();
});

t.test('.dockerignore is an allow-list: local key material never enters the build context', (t) => {
  const rules = readFileSync(path.join(repoRoot, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  t.equal(rules[0], '*', 'everything excluded first');
  t.same(rules.slice(1).sort(), ['!package-lock.json', '!package.json', '!src/', '!tsconfig.json']);
  // Every path the build copies from the context is allowed.
  const fromContext = stages
    .flatMap((s) => all(s, 'COPY'))
    .filter((i) => !i.args.startsWith('--from'))
    .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
  for (const p of fromContext)
    t.ok(rules.includes(`!${p}`) || rules.includes(`!${p}/`), `${p} is in the context`);
  t.end();
});
