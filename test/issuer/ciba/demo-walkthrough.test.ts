/**
 * The demo's CIBA walkthrough, executed as printed: `fapi-gateway demo` runs, its CIBA commands run in
 * one bash session (variables carry over between steps), and each ">>>" browser step is done in
 * chromium on the device page. Poll, ping and push each end with HTTP 200 from the banking API through
 * the gateway.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { decideOnDevice } from '../../helpers/ciba.js';
import { launchPhoneBrowser } from '../../helpers/browser.js';
import { startDemo } from '../../helpers/demo.js';

type Step =
  | { kind: 'command'; title: string; command: string }
  | { kind: 'device'; issuerUrl: string; username: string; password: string; bindingMessage: string };

function cibaSteps(out: string): Step[] {
  const block = out.split('# --- CIBA walkthrough')[1]!.split('# --- end of CIBA walkthrough ---')[0]!;
  const lines = block
    .split('\n')
    .slice(1)
    .filter((l) => l.trim() !== '' && !l.startsWith('# =='));
  const steps: Step[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const device =
      /^# >>> In a browser, open (\S+)\/device .* sign in as (\S+) \/ (\S+), and press Approve next to (\S+) ->/.exec(
        line,
      );
    if (device) {
      steps.push({
        kind: 'device',
        issuerUrl: device[1]!,
        username: device[2]!,
        password: device[3]!,
        bindingMessage: device[4]!,
      });
      continue;
    }
    if (!/^# c\d+\. /.test(line)) throw new Error(`unexpected line: ${line}`);
    steps.push({ kind: 'command', title: line, command: lines[++i]! });
  }
  return steps;
}

/** One bash process; each command's output is everything printed until its end marker. */
function bashSession(cwd: string) {
  const bash = spawn('bash', ['--norc', '--noprofile'], { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  let buffer = '';
  bash.stdout.on('data', (c: Buffer) => (buffer += c.toString()));
  bash.stderr.on('data', (c: Buffer) => (buffer += c.toString()));
  let n = 0;
  return {
    run(command: string, timeoutMs = 30_000): Promise<string> {
      const marker = `@@done-${++n}@@`;
      bash.stdin.write(`${command}\necho; echo '${marker}'\n`);
      return new Promise((resolve, reject) => {
        const deadline = Date.now() + timeoutMs;
        const check = () => {
          const at = buffer.indexOf(marker);
          if (at >= 0) {
            const output = buffer.slice(0, at);
            buffer = buffer.slice(at + marker.length);
            resolve(output);
          } else if (Date.now() > deadline) reject(new Error(`timed out: ${command}\n${buffer}`));
          else setTimeout(check, 50);
        };
        check();
      });
    },
    close() {
      bash.stdin.end();
      bash.kill('SIGKILL');
    },
  };
}

t.test('the printed CIBA walkthrough works for poll, ping and push', async (t) => {
  const demo = await startDemo(t, { args: ['--pki', 'dev-pki/demo'] });
  const cwd = demo.cwd;
  const steps = cibaSteps(demo.out());
  t.equal(steps.filter((s) => s.kind === 'device').length, 3, 'one browser step per mode');
  t.equal(steps.filter((s) => s.kind === 'command').length, 9);

  const browser = await launchPhoneBrowser();
  t.teardown(() => browser.close());
  const bash = bashSession(cwd);
  t.teardown(() => bash.close());
  const outputs: string[] = [];
  for (const step of steps) {
    if (step.kind === 'device') {
      const status = await decideOnDevice(browser.context, step.issuerUrl, {
        user: { username: step.username, password: step.password },
        bindingMessage: step.bindingMessage,
        decision: 'Approve',
      });
      t.match(status, /Approved/, `approved ${step.bindingMessage} on the device page`);
      // The poll interval of the demo is 2 s; the walkthrough's next poll must not come sooner.
      await new Promise((r) => setTimeout(r, 2_100));
    } else outputs.push(await bash.run(step.command));
  }
  const [c1, c2, c3, c4, c5, c6, c7, c8, c9] = outputs as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  t.match(c1, /"expires_in":300/);
  t.match(c1, /"interval":2/);
  t.match(c1, /auth_req_id: [\w-]{43}/);
  t.match(c2, /"error":"authorization_pending"/);
  t.match(c3, /token: eyJ/);
  t.match(c4, /HTTP 200/);
  t.match(c5, /auth_req_id: [\w-]{43}/);
  t.match(c6, /"authorization": "Bearer [\w-]+"/);
  t.match(c6, /"auth_req_id": "[\w-]{43}"/);
  t.match(c7, /HTTP 200/);
  t.match(c8, /auth_req_id: [\w-]{43}/);
  t.notMatch(c8, /interval/);
  t.match(c9, /token: eyJ/);
  t.match(c9, /HTTP 200/);

  demo.child.kill('SIGINT');
  await demo.exited;
  t.match(demo.out(), /stopped\./);
});
