import t from 'tap';
import tls from 'node:tls';
import fc from 'fast-check';
import { startGatewayFixture, type GatewayFixture } from '../helpers/gateway.js';
import { expectRejection } from '../helpers/gateway-assertions.js';
import {
  isAccessTokenName,
  multipartCarriesToken,
  parametersCarryToken,
} from '../../src/gateway/checks/misplaced-token.js';

/** Opens an mTLS connection, writes `head` (and no more) and resolves with the first answer's text. */
function partialRequest(
  f: GatewayFixture,
  head: string,
): Promise<{ answer: Promise<string>; socket: tls.TLSSocket }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      {
        host: '127.0.0.1',
        port: f.gateway.listenPort,
        servername: 'localhost',
        ca: f.pki.ca.certPem,
        cert: f.pki.clientA.certPem,
        key: f.pki.clientA.keyPem,
      },
      () => {
        socket.write(head);
        const answer = new Promise<string>((done) => {
          let text = '';
          socket.on('data', (c: Buffer) => {
            text += c.toString('latin1');
            if (text.includes('\r\n\r\n')) done(text);
          });
          socket.on('close', () => done(text));
        });
        resolve({ answer, socket });
      },
    );
    socket.on('error', reject);
  });
}

t.test('tokens in the query under any name a back end reads as access_token: 400', async (t) => {
  const f = await startGatewayFixture(t);
  const token = await f.token();
  for (const query of [
    '%61ccess_token=x',
    'access%5Ftoken=x',
    'access%5ftoken=x',
    'ACCESS_TOKEN=x',
    'Access_Token=x',
    'access_token[]=x',
    'access_token[0]=x',
    'a=1;access_token=x',
    'access.token=x',
    'access+token=x',
    'access%20token=x',
    '%2561ccess_token=x'.replace('%25', '%'),
  ]) {
    await t.test(query, async (t) => {
      const res = await f.request({ path: `/accounts?${query}`, token });
      await expectRejection(t, f, res, { status: 400, error: 'invalid_request', reason: 'token_in_query' });
    });
  }
  await t.test('positive control: names that only contain it are forwarded', async (t) => {
    const res = await f.request({
      path: '/accounts?access_tokens=1&my_access_token=2&q=access_token',
      token,
    });
    t.equal(res.status, 200);
    f.upstream.reset();
  });
});

t.test('form bodies: decoded names, multipart, encodings, duplicate Content-Type', async (t) => {
  const f = await startGatewayFixture(t);
  const token = await f.token();
  const post = (headers: Record<string, string | string[]>, body: string) =>
    f.request({ method: 'POST', token, headers, body });
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  for (const body of ['a=1&%61ccess_token=x', 'access_token[]=x', 'a=1;Access.Token=x']) {
    await t.test(`urlencoded ${body}: 400 token_in_body`, async (t) => {
      const res = await post(form, body);
      await expectRejection(t, f, res, { status: 400, error: 'invalid_request', reason: 'token_in_body' });
    });
  }
  const boundary = 'XyZ123';
  const multipart = (name: string) =>
    `--${boundary}\r\nContent-Disposition: form-data; ${name}\r\n\r\nvalue\r\n--${boundary}--\r\n`;
  const mp = { 'content-type': `multipart/form-data; boundary=${boundary}` };
  for (const name of ['name="access_token"', 'name=access_token', "name*=utf-8''access%5Ftoken"]) {
    await t.test(`multipart ${name}: 400 token_in_body`, async (t) => {
      const res = await post(mp, multipart(name));
      await expectRejection(t, f, res, { status: 400, error: 'invalid_request', reason: 'token_in_body' });
    });
  }
  await t.test('two Content-Type headers: 400 ambiguous_request', async (t) => {
    const res = await post(
      { 'content-type': ['text/plain', 'application/x-www-form-urlencoded'] },
      'access_token=x',
    );
    await expectRejection(t, f, res, { status: 400, error: 'invalid_request', reason: 'ambiguous_request' });
  });
  await t.test('a charset other than UTF-8: 415', async (t) => {
    const res = await post({ 'content-type': 'application/x-www-form-urlencoded; charset=utf-16le' }, 'a=1');
    await expectRejection(t, f, res, { status: 415, error: 'invalid_request', reason: 'unsupported_body' });
  });
  await t.test('a Content-Encoding on a form body: 415', async (t) => {
    const res = await post({ ...form, 'content-encoding': 'gzip' }, 'a=1');
    await expectRejection(t, f, res, { status: 415, error: 'invalid_request', reason: 'unsupported_body' });
  });
  await t.test('positive controls: ordinary form and multipart bodies are forwarded as sent', async (t) => {
    const a = await post(
      { ...form, 'content-type': 'application/x-www-form-urlencoded; charset=UTF-8' },
      'amount=1',
    );
    t.equal(a.status, 200);
    t.equal(f.upstream.last()!.body, 'amount=1');
    const body = multipart('name="amount"');
    const b = await post(mp, body);
    t.equal(b.status, 200);
    t.equal(f.upstream.last()!.body, body);
    f.upstream.reset();
  });
});

t.test('memory before authentication is bounded', async (t) => {
  const f = await startGatewayFixture(t, {
    limits: { formBodyBytes: 1024 * 1024, bufferedBodyBytes: 1024 * 1024 },
  });
  const token = await f.token();

  await t.test('a form body without credentials is refused before it is read', async (t) => {
    const { answer, socket } = await partialRequest(
      f,
      'POST /accounts HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n' +
        `Content-Length: ${1024 * 1024 - 1}\r\n\r\naccess_token=x&`,
    );
    const text = await answer;
    socket.destroy();
    t.match(text, /^HTTP\/1\.1 401 /, 'answered while the body is still incomplete');
    t.match(text, /www-authenticate: Bearer realm="fapi-gateway"/i);
    t.equal(f.upstream.hits, 0);
  });

  await t.test('bodies being read together are capped per process: 503, nothing forwarded', async (t) => {
    const head = (n: number) =>
      `POST /accounts HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\n` +
      `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${n}\r\n\r\n`;
    const first = await partialRequest(f, head(700 * 1024) + 'a=' + 'b'.repeat(600 * 1024));
    t.teardown(() => first.socket.destroy());
    for (let i = 0; i < 100; i++) {
      if ((await f.metric('fapi_gateway_buffered_body_bytes')) >= 600 * 1024) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    t.ok((await f.metric('fapi_gateway_buffered_body_bytes')) >= 600 * 1024, 'the first body is being read');
    const second = await partialRequest(f, head(700 * 1024));
    const text = await second.answer;
    second.socket.destroy();
    t.match(text, /^HTTP\/1\.1 503 /);
    t.match(text, /temporarily_unavailable/);
    t.equal(
      await f.metric('fapi_gateway_rejections_total', { reason: 'body_buffer_full', client_id: 'unknown' }),
      1,
    );
    first.socket.destroy();
    for (let i = 0; i < 100 && (await f.metric('fapi_gateway_buffered_body_bytes')) > 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    t.equal(await f.metric('fapi_gateway_buffered_body_bytes'), 0, 'released when the client goes away');
    t.equal(f.upstream.hits, 0);
  });
});

t.test('misplaced-token detection (fast-check)', (t) => {
  const encodeChar = (c: string, how: number) =>
    how === 0 ? c : how === 1 ? c.toUpperCase() : `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 12, maxLength: 12 }),
      fc.constantFrom('', '[]', '[x]', ' '),
      fc.constantFrom('', 'a=1&', 'a=1;', 'x&'),
      (hows, suffix, prefix) => {
        const name = [...'access_token'].map((c, i) => encodeChar(c, hows[i]!)).join('') + suffix;
        return parametersCarryToken(`${prefix}${name}=v`);
      },
    ),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.string({ maxLength: 60 }), (s) => {
      const found = parametersCarryToken(s); // never throws
      let standard = false;
      try {
        standard = new URLSearchParams(s).has('access_token');
      } catch {
        /* ignore */
      }
      return !standard || found; // whatever the standard parser sees, the gateway sees too
    }),
    { numRuns: 3000 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      multipartCarriesToken(Buffer.from(bytes));
      return true;
    }),
  );
  t.equal(isAccessTokenName('access_tokens'), false);
  t.end();
});
