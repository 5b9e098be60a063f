/**
 * A sample "legacy" banking API for the demo: plain HTTP, JSON, no idea what OAuth is. It trusts
 * whatever reaches it, which is the point: the gateway in front decides who gets through. It shows
 * the identity headers the gateway adds, so a demo user can see who the call was made for.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';

interface Account {
  accountId: string;
  name: string;
  iban: string;
  currency: string;
  balance: number;
  transactions: { transactionId: string; bookingDate: string; amount: number; description: string }[];
}

function seedAccounts(): Account[] {
  return [
    {
      accountId: 'acc-001',
      name: 'Everyday current account',
      iban: 'GB33BUKB20201555555555',
      currency: 'GBP',
      balance: 1520.45,
      transactions: [
        { transactionId: 'tx-1001', bookingDate: '2026-11-20', amount: -42.1, description: 'Grocery store' },
        { transactionId: 'tx-1002', bookingDate: '2026-11-21', amount: 2300, description: 'Salary' },
        { transactionId: 'tx-1003', bookingDate: '2026-11-23', amount: -737.45, description: 'Rent' },
      ],
    },
    {
      accountId: 'acc-002',
      name: 'Savings',
      iban: 'GB94BARC10201530093459',
      currency: 'GBP',
      balance: 10250,
      transactions: [
        { transactionId: 'tx-2001', bookingDate: '2026-11-01', amount: 250, description: 'Monthly saving' },
      ],
    },
  ];
}

export interface BankApi {
  port: number;
  url: string;
  close(): Promise<void>;
}

const MAX_BODY = 16 * 1024;

export async function startBankApi(options: { host?: string; port?: number } = {}): Promise<BankApi> {
  const accounts = seedAccounts();
  const payments = new Map<string, Record<string, unknown>>();
  const server = http.createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      const text = JSON.stringify(body, null, 2) + '\n';
      res.writeHead(status, {
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(text),
      });
      res.end(text);
    };
    const caller = {
      clientId: req.headers['x-authenticated-client-id'] ?? null,
      scope: req.headers['x-authenticated-scope'] ?? null,
      interactionId: req.headers['x-fapi-interaction-id'] ?? null,
    };
    const path = (req.url ?? '/').split('?')[0]!;
    const parts = path.split('/').filter(Boolean);
    if (req.method === 'GET' && parts[0] === 'accounts') {
      if (parts.length === 1)
        return send(200, {
          data: accounts.map(({ accountId, name, iban, currency }) => ({ accountId, name, iban, currency })),
          meta: { caller },
        });
      const account = accounts.find((a) => a.accountId === parts[1]);
      if (!account) return send(404, { error: 'account not found' });
      if (parts.length === 2)
        return send(200, { data: { ...account, transactions: undefined }, meta: { caller } });
      if (parts.length === 3 && parts[2] === 'balances')
        return send(200, {
          data: {
            accountId: account.accountId,
            amount: account.balance.toFixed(2),
            currency: account.currency,
          },
          meta: { caller },
        });
      if (parts.length === 3 && parts[2] === 'transactions')
        return send(200, { data: account.transactions, meta: { caller } });
      return send(404, { error: 'not found' });
    }
    if (parts[0] === 'payments' && req.method === 'GET' && parts.length === 2) {
      const payment = payments.get(parts[1]!);
      return payment
        ? send(200, { data: payment, meta: { caller } })
        : send(404, { error: 'payment not found' });
    }
    if (parts[0] === 'payments' && req.method === 'POST' && parts.length === 1) {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= MAX_BODY) chunks.push(c);
      });
      req.on('end', () => {
        if (size > MAX_BODY) return send(413, { error: 'body too large' });
        let body: { fromAccountId?: unknown; amount?: unknown; currency?: unknown; creditorIban?: unknown };
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body;
        } catch {
          return send(400, { error: 'the body must be JSON' });
        }
        const from = accounts.find((a) => a.accountId === body.fromAccountId);
        const amount = Number(body.amount);
        if (!from || !Number.isFinite(amount) || amount <= 0 || typeof body.creditorIban !== 'string')
          return send(400, { error: 'fromAccountId, a positive amount and creditorIban are required' });
        if (amount > from.balance) return send(422, { error: 'insufficient funds' });
        from.balance -= amount;
        const paymentId = `pay-${randomUUID()}`;
        const payment = {
          paymentId,
          status: 'AcceptedSettlementInProcess',
          fromAccountId: from.accountId,
          amount: amount.toFixed(2),
          currency: from.currency,
          creditorIban: body.creditorIban,
        };
        payments.set(paymentId, payment);
        from.transactions.push({
          transactionId: paymentId,
          bookingDate: new Date().toISOString().slice(0, 10),
          amount: -amount,
          description: `Payment to ${body.creditorIban}`,
        });
        send(201, { data: payment, meta: { caller } });
      });
      return;
    }
    send(404, { error: 'not found' });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
