#!/usr/bin/env node
// A tiny stand-in for a legacy API (README quickstart): answers every request with what it received,
// including the identity headers the gateway adds. Plain HTTP on 127.0.0.1:9000 (PORT overrides).
import http from 'node:http';

const port = Number(process.env.PORT ?? 9000);
http
  .createServer((req, res) => {
    const body = {
      message: 'hello from the legacy API',
      method: req.method,
      url: req.url,
      clientId: req.headers['x-authenticated-client-id'],
      subject: req.headers['x-authenticated-subject'],
      scope: req.headers['x-authenticated-scope'],
      interactionId: req.headers['x-fapi-interaction-id'],
    };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body, null, 2) + '\n');
  })
  .listen(port, '127.0.0.1', function () {
    console.log(`example upstream on http://127.0.0.1:${this.address().port}`);
  });
