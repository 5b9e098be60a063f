import t from 'tap';
import { startBankApi } from '../../src/demo/bank-api.js';

t.test(
  'the sample banking API: accounts, balances, transactions, payments, and plain refusals',
  async (t) => {
    const bank = await startBankApi();
    t.teardown(() => bank.close());
    const call = async (path: string, init?: RequestInit) => {
      const res = await fetch(bank.url + path, init);
      return { status: res.status, body: (await res.json()) as { data?: unknown; error?: string } };
    };
    const accounts = await call('/accounts', { headers: { 'x-authenticated-client-id': 'acme-tls' } });
    t.equal(accounts.status, 200);
    t.match(accounts.body, {
      data: [{ accountId: 'acc-001' }, { accountId: 'acc-002' }],
      meta: { caller: { clientId: 'acme-tls' } },
    });
    t.match((await call('/accounts/acc-001/balances')).body, {
      data: { amount: '1520.45', currency: 'GBP' },
    });
    t.equal(((await call('/accounts/acc-001/transactions')).body.data as unknown[]).length, 3);
    t.equal((await call('/accounts/nope')).status, 404);
    const pay = (body: string) =>
      call('/payments', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const paid = await pay(
      JSON.stringify({ fromAccountId: 'acc-001', amount: '20.45', creditorIban: 'DE89370400440532013000' }),
    );
    t.equal(paid.status, 201);
    const id = (paid.body.data as { paymentId: string }).paymentId;
    t.equal((await call(`/payments/${id}`)).status, 200);
    t.match((await call('/accounts/acc-001/balances')).body, { data: { amount: '1500.00' } });
    t.equal((await pay('not json')).status, 400);
    t.equal(
      (await pay(JSON.stringify({ fromAccountId: 'acc-001', amount: -5, creditorIban: 'x' }))).status,
      400,
    );
    t.equal(
      (await pay(JSON.stringify({ fromAccountId: 'acc-002', amount: 1e9, creditorIban: 'x' }))).status,
      422,
    );
    t.equal((await pay('x'.repeat(20_000))).status, 413);
  },
);
