import t from 'tap';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { devPkiPaths } from '../../src/pki/dev-pki.js';
import { startDemo } from '../helpers/demo.js';
import { CLI } from '../helpers/gateway-process.js';

/** The `# N. title -> expect: ...` + command pairs between the copy-paste markers. */
function printedSteps(out: string): { title: string; command: string }[] {
  const block = out.split('# --- copy-paste commands (bash) ---')[1]!.split('# --- end of commands ---')[0]!;
  const lines = block.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('# =='));
  const steps: { title: string; command: string }[] = [];
  for (let i = 0; i < lines.length; i += 2) {
    if (!/^# \d+\. /.test(lines[i]!)) throw new Error(`unexpected line: ${lines[i]}`);
    steps.push({ title: lines[i]!, command: lines[i + 1]! });
  }
  return steps;
}

function runBash(script: string, cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('bash', ['-c', script], { cwd, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err && !stdout) reject(new Error(`bash failed: ${err.message}`));
      else resolve(stdout + stderr);
    });
  });
}

t.test(
  '`fapi-gateway demo` prints commands that succeed and fail as described; Ctrl-C stops it',
  async (t) => {
    const demo = await startDemo(t, { args: ['--pki', 'dev-pki/demo'] });
    const cwd = demo.cwd;
    t.match(demo.out(), /development PKI in dev-pki\/demo, just created/);

    const steps = printedSteps(demo.out());
    t.equal(steps.length, 15);
    const script = steps.map((s, i) => `echo "@@${i + 1}"\n${s.command}\necho\n`).join('');
    const output = await runBash(script, cwd);
    const section = (n: number) => output.split(`@@${n}\n`)[1]!.split(`@@${n + 1}\n`)[0]!;

    t.match(section(1), /^token: eyJ/m, 'step 1: a JWT');
    t.match(section(2), /HTTP 200/, 'step 2: accounts through the gateway');
    t.match(section(2), /"clientId": "acme-tls"/);
    t.match(section(3), /HTTP 201/, 'step 3: payment');
    t.match(section(3), /AcceptedSettlementInProcess/);
    t.match(section(4), /HTTP\/1\.1 401/, "step 4: another client's certificate is refused");
    t.match(section(4), /www-authenticate: Bearer [^\n]*error="invalid_token"/i);
    t.match(section(4), /HTTP 401/);
    t.notMatch(section(4), /acc-001/, 'no account data leaked');
    t.match(section(5), /HTTP 200/, 'step 5: self-signed client reads balances');
    t.match(section(5), /"clientId": "acme-self-signed"/);
    t.match(section(6), /HTTP 200/, 'step 6: private_key_jwt client reads transactions');
    t.match(section(6), /"clientId": "acme-jwt"/);
    t.match(section(7), /"error":"invalid_client"/, 'step 7: the replayed assertion is refused');
    t.match(section(7), /replay/);
    t.match(section(7), /HTTP 401/);
    t.notMatch(section(7), /access_token/);

    // Opaque tokens: the gateway introspects them at the issuer with its own certificate.
    t.match(section(8), /^token: [A-Za-z0-9_-]{12}\.\.\. \(43 characters\)$/m, 'step 8: an opaque token');
    t.notMatch(section(8), /eyJ/);
    t.match(section(9), /HTTP 200/, 'step 9: the opaque token through the gateway');
    t.match(section(9), /"clientId": "acme-opaque"/);
    t.match(section(10), /HTTP 200/, 'step 10: revoked');
    t.match(section(11), /HTTP\/1\.1 401/, 'step 11: the revoked token is refused at once');
    t.match(section(11), /www-authenticate: Bearer [^\n]*error="invalid_token"/i);
    t.match(section(11), /HTTP 401/);
    t.notMatch(section(11), /acc-001/);

    // DPoP-bound tokens without any client certificate.
    t.notMatch(steps[11]!.command + steps[12]!.command, /--cert /, 'steps 12-15 present no certificate');
    t.match(section(12), /^token: eyJ[^\n]*"token_type":"DPoP"$/m, 'step 12: a DPoP-bound JWT');
    t.match(section(13), /HTTP 200/, 'step 13: a fresh proof through the gateway');
    t.match(section(13), /"clientId": "acme-dpop"/);
    t.match(section(14), /HTTP\/1\.1 401/, 'step 14: the replayed proof');
    t.match(section(14), /www-authenticate: DPoP [^\n]*error="invalid_dpop_proof"/i);
    t.match(section(14), /HTTP 401/);
    t.notMatch(section(14), /acc-001/);
    t.match(section(15), /HTTP\/1\.1 401/, "step 15: another client's key");
    t.match(section(15), /www-authenticate: DPoP [^\n]*error="invalid_token"/i);
    t.match(section(15), /HTTP 401/);
    t.notMatch(section(15), /acc-001/);
    t.notMatch(section(15), /"clientId"/);

    demo.child.kill('SIGINT');
    t.equal(await demo.exited, 0);
    t.match(demo.out(), /stopped\./);
    t.equal(demo.err(), '', 'nothing on stderr');

    // A second run reuses the PKI it made; one made before the DPoP client and the gateway's client
    // certificate existed gets them, issued by its own CA.
    const pki = devPkiPaths(path.join(cwd, 'dev-pki/demo'));
    const ca = readFileSync(pki.caCert, 'utf8');
    rmSync(pki.gatewayClientCert);
    rmSync(pki.dpopKey);
    const again = await startDemo(t, { args: ['--pki', 'dev-pki/demo'], cwd });
    t.match(again.out(), /development PKI in dev-pki\/demo\):/);
    t.equal(readFileSync(pki.caCert, 'utf8'), ca, 'the CA is kept');
    t.ok(
      new X509Certificate(readFileSync(pki.gatewayClientCert)).verify(new X509Certificate(ca).publicKey),
      "the gateway's client certificate is issued by that CA",
    );
    t.ok(existsSync(pki.dpopKey));
    again.child.kill('SIGTERM');
    t.equal(await again.exited, 0);
  },
);

t.test('demo refuses a bad --port-base', async (t) => {
  const result = await new Promise<{ code: number; stderr: string }>((resolve) =>
    execFile(process.execPath, [CLI, 'demo', '--port-base', '80'], (e, _o, stderr) =>
      resolve({ code: e ? Number(e.code) : 0, stderr }),
    ),
  );
  t.equal(result.code, 2);
  t.match(result.stderr, /--port-base must be 0/);
});
