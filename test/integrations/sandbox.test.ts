import crypto from 'node:crypto';
import { expect } from 'chai';
import type { Knex } from 'knex';
import { completeSandboxAction, createSandboxProvider, getSandboxPayment } from '../../integrations/payments/sandbox';
import { PaymentRefused, type AuthorizeRequest, type PaymentProvider } from '../../integrations/payments/types';
import { createKnex } from '../../platform/db';
import { stack } from '../support/stack';

const PUBLIC_URL = 'http://tours.example';

function authorizeRequest(overrides: Partial<AuthorizeRequest> = {}): AuthorizeRequest {
  const bookingId = crypto.randomUUID();
  return {
    idempotencyKey: `booking-${bookingId}/pay-1/authorize`,
    amountMinor: 20_000,
    currency: 'EUR',
    paymentMethod: 'pm_card_visa',
    bookingId,
    bookingReference: 'ST-SBX001',
    description: 'Granada weekend, 2 pax',
    returnUrl: `${PUBLIC_URL}/bookings/return`,
    ...overrides,
  };
}

async function refused(promise: Promise<unknown>, code?: string): Promise<PaymentRefused> {
  try {
    await promise;
  } catch (err) {
    expect(err, (err as Error).message).to.be.instanceOf(PaymentRefused);
    if (code) expect((err as PaymentRefused).code, (err as Error).message).to.equal(code);
    return err as PaymentRefused;
  }
  return expect.fail(`expected PaymentRefused${code ? ` (${code})` : ''}`);
}

describe('sandbox payment provider', () => {
  let knex: Knex;
  let sandbox: PaymentProvider;

  before(() => {
    knex = stack().knex;
    sandbox = createSandboxProvider({ knex, publicUrl: PUBLIC_URL });
  });

  async function authorized(amountMinor = 20_000): Promise<string> {
    const result = await sandbox.authorize(authorizeRequest({ amountMinor }));
    expect(result.status).to.equal('authorized');
    return result.providerRef!;
  }

  async function captured(amountMinor = 20_000): Promise<string> {
    const ref = await authorized(amountMinor);
    await sandbox.capture({ idempotencyKey: `${ref}/capture`, providerRef: ref, amountMinor, currency: 'EUR' });
    return ref;
  }

  describe('test cards', () => {
    it('authorizes pm_card_visa and pm_card_mastercard and stores the payment', async () => {
      for (const paymentMethod of ['pm_card_visa', 'pm_card_mastercard']) {
        const request = authorizeRequest({ paymentMethod });
        const result = await sandbox.authorize(request);
        expect(result.status).to.equal('authorized');
        expect(result.providerRef).to.match(/^sbx_pay_[0-9a-f]{24}$/);
        const payment = await getSandboxPayment(knex, result.providerRef!);
        expect(payment).to.include({
          status: 'authorized', amountMinor: 20_000, capturedMinor: 0, refundedMinor: 0, currency: 'EUR',
          bookingId: request.bookingId, paymentMethod, idempotencyKey: request.idempotencyKey, returnUrl: request.returnUrl,
        });
        expect(await sandbox.retrieve(result.providerRef!)).to.deep.equal({ state: 'authorized' });
      }
    });

    it('declines pm_card_chargeDeclined, pm_card_insufficientFunds and unknown methods with their codes', async () => {
      const cases = [
        ['pm_card_chargeDeclined', 'card_declined', /declined/],
        ['pm_card_insufficientFunds', 'insufficient_funds', /insufficient funds/],
        ['pm_card_bogus', 'invalid_payment_method', /not one of the sandbox test cards/],
        ['', 'invalid_payment_method', /test cards/],
      ] as const;
      for (const [paymentMethod, code, reason] of cases) {
        const result = await sandbox.authorize(authorizeRequest({ paymentMethod }));
        if (result.status !== 'declined') return expect.fail(`${paymentMethod}: expected declined, got ${result.status}`);
        expect(result.code, paymentMethod).to.equal(code);
        expect(result.reason, paymentMethod).to.match(reason);
        expect((await getSandboxPayment(knex, result.providerRef!))!.status).to.equal('declined');
        expect((await sandbox.retrieve(result.providerRef!)).state).to.equal('declined');
      }
    });

    it('sends pm_card_authenticationRequired to the hosted page, and the page completes it once', async () => {
      const result = await sandbox.authorize(authorizeRequest({ paymentMethod: 'pm_card_authenticationRequired' }));
      if (result.status !== 'requires_action') return expect.fail(`expected requires_action, got ${result.status}`);
      expect(result.actionUrl).to.equal(`${PUBLIC_URL}/pay/sandbox/${result.providerRef}`);
      expect(await sandbox.retrieve(result.providerRef)).to.deep.equal({ state: 'requires_action' });

      const done = await completeSandboxAction(knex, result.providerRef, 'authenticate');
      expect(done).to.include({ id: result.providerRef, status: 'authorized', declineCode: null });
      // Idempotent: repeating, or answering the other way afterwards, changes nothing.
      expect((await completeSandboxAction(knex, result.providerRef, 'authenticate')).status).to.equal('authorized');
      expect((await completeSandboxAction(knex, result.providerRef, 'fail')).status).to.equal('authorized');
      expect(await sandbox.retrieve(result.providerRef)).to.deep.equal({ state: 'authorized' });
    });

    it('declines when the customer fails authentication', async () => {
      const result = await sandbox.authorize(authorizeRequest({ paymentMethod: 'pm_card_authenticationRequired' }));
      const [a, b] = await Promise.all([completeSandboxAction(knex, result.providerRef!, 'fail'), completeSandboxAction(knex, result.providerRef!, 'fail')]);
      expect([a.status, b.status]).to.deep.equal(['declined', 'declined']);
      expect(a.declineCode).to.equal('authentication_failed');
      expect(await sandbox.retrieve(result.providerRef!)).to.deep.equal({ state: 'declined', reason: 'The customer failed to authenticate the payment.' });
      await refused(sandbox.capture({ idempotencyKey: `${result.providerRef}/capture`, providerRef: result.providerRef!, amountMinor: 1, currency: 'EUR' }), 'payment_unexpected_state');
    });

    it('knows nothing of payments it never made', async () => {
      expect(await getSandboxPayment(knex, 'sbx_pay_nope')).to.equal(undefined);
      expect((await sandbox.retrieve('sbx_pay_nope')).state).to.equal('unknown');
      await refused(completeSandboxAction(knex, 'sbx_pay_nope', 'authenticate'), 'resource_missing');
      await refused(sandbox.capture({ idempotencyKey: crypto.randomUUID(), providerRef: 'sbx_pay_nope', amountMinor: 1, currency: 'EUR' }), 'resource_missing');
    });
  });

  describe('idempotency', () => {
    it('returns the stored result for a retried authorize, also from a fresh process, also when concurrent', async () => {
      const request = authorizeRequest();
      const first = await sandbox.authorize(request);
      const retried = await sandbox.authorize(request);
      expect(retried).to.deep.equal(first);

      // A crashed-and-restarted worker: a new pool and a new provider, same database.
      const otherProcess = createKnex(stack().databaseUrl, 2);
      try {
        expect(await createSandboxProvider({ knex: otherProcess, publicUrl: PUBLIC_URL }).authorize(request)).to.deep.equal(first);
      } finally {
        await otherProcess.destroy();
      }

      const concurrent = authorizeRequest({ paymentMethod: 'pm_card_authenticationRequired' });
      const results = await Promise.all(Array.from({ length: 6 }, () => sandbox.authorize(concurrent)));
      expect(new Set(results.map((r) => r.providerRef)).size).to.equal(1);
      expect(results.every((r) => r.status === 'requires_action')).to.equal(true);
      const rows = await knex('sandbox_payments').where({ booking_id: concurrent.bookingId });
      expect(rows).to.have.length(1);
    });

    it('reports the payment as it is now when a requires_action authorize is retried after the customer answered', async () => {
      const request = authorizeRequest({ paymentMethod: 'pm_card_authenticationRequired' });
      const first = await sandbox.authorize(request);
      await completeSandboxAction(knex, first.providerRef!, 'authenticate');
      expect(await sandbox.authorize(request)).to.deep.equal({ status: 'authorized', providerRef: first.providerRef });
    });

    it('refuses a key reused for a different authorization', async () => {
      const request = authorizeRequest();
      await sandbox.authorize(request);
      await refused(sandbox.authorize({ ...request, amountMinor: request.amountMinor + 100 }), 'idempotency_error');
      await refused(sandbox.authorize({ ...request, paymentMethod: 'pm_card_mastercard' }), 'idempotency_error');
      expect(await knex('sandbox_payments').where({ booking_id: request.bookingId })).to.have.length(1);
    });

    it('captures once per key, under retries and concurrent duplicates', async () => {
      const ref = await authorized();
      const capture = { idempotencyKey: `${ref}/capture`, providerRef: ref, amountMinor: 15_000, currency: 'EUR' };
      const results = await Promise.all(Array.from({ length: 5 }, () => sandbox.capture(capture)));
      expect(results).to.deep.equal(Array(5).fill({ status: 'captured', providerRef: ref }));
      expect(await sandbox.capture(capture)).to.deep.equal({ status: 'captured', providerRef: ref });
      expect(await knex('sandbox_operations').where({ payment_id: ref })).to.have.length(1);
      expect(await getSandboxPayment(knex, ref)).to.include({ status: 'captured', capturedMinor: 15_000 });
      expect(await sandbox.retrieve(ref)).to.deep.equal({ state: 'captured' });

      // Another key is another capture, and a payment is captured only once.
      await refused(sandbox.capture({ ...capture, idempotencyKey: `${ref}/capture-2` }), 'payment_unexpected_state');
      // The same key for something else is a programming error, not a replay.
      await refused(sandbox.capture({ ...capture, amountMinor: 1 }), 'idempotency_error');
    });

    it('refunds once per key, under retries and concurrent duplicates', async () => {
      const ref = await captured(10_000);
      const refund = { idempotencyKey: `${ref}/refund-1`, providerRef: ref, amountMinor: 3_000, currency: 'EUR', reason: 'one traveller cancelled' };
      const results = await Promise.all(Array.from({ length: 5 }, () => sandbox.refund(refund)));
      expect(new Set(results.map((r) => r.refundRef)).size).to.equal(1);
      expect(results[0].status).to.equal('succeeded');
      expect(results[0].refundRef).to.match(/^sbx_re_[0-9a-f]{24}$/);
      expect(await sandbox.refund(refund)).to.deep.equal(results[0]);
      expect((await getSandboxPayment(knex, ref))!.refundedMinor).to.equal(3_000);
      expect(await knex('sandbox_operations').where({ payment_id: ref, kind: 'refund' })).to.have.length(1);
    });
  });

  describe('money rules', () => {
    it('refuses to capture more than was authorized, or a payment that was declined', async () => {
      const ref = await authorized(5_000);
      await refused(sandbox.capture({ idempotencyKey: `${ref}/capture`, providerRef: ref, amountMinor: 5_001, currency: 'EUR' }), 'amount_too_large');
      await refused(sandbox.capture({ idempotencyKey: `${ref}/capture`, providerRef: ref, amountMinor: 5_000, currency: 'USD' }), 'currency_mismatch');
      // A refusal records nothing: the same key can still do the right capture.
      expect(await sandbox.capture({ idempotencyKey: `${ref}/capture`, providerRef: ref, amountMinor: 5_000, currency: 'EUR' })).to.deep.equal({ status: 'captured', providerRef: ref });

      const declined = await sandbox.authorize(authorizeRequest({ paymentMethod: 'pm_card_chargeDeclined' }));
      await refused(sandbox.capture({ idempotencyKey: `${declined.providerRef}/capture`, providerRef: declined.providerRef!, amountMinor: 100, currency: 'EUR' }), 'payment_unexpected_state');
      expect(await knex('sandbox_operations').where({ payment_id: declined.providerRef })).to.have.length(0);
    });

    it('refuses to refund more than was captured, in one go or in several', async () => {
      const ref = await captured(10_000);
      await refused(sandbox.refund({ idempotencyKey: `${ref}/r0`, providerRef: ref, amountMinor: 10_001, currency: 'EUR', reason: 'x' }), 'amount_too_large');
      await sandbox.refund({ idempotencyKey: `${ref}/r1`, providerRef: ref, amountMinor: 6_000, currency: 'EUR', reason: 'x' });
      await refused(sandbox.refund({ idempotencyKey: `${ref}/r2`, providerRef: ref, amountMinor: 4_001, currency: 'EUR', reason: 'x' }), 'amount_too_large');
      await sandbox.refund({ idempotencyKey: `${ref}/r3`, providerRef: ref, amountMinor: 4_000, currency: 'EUR', reason: 'x' });
      await refused(sandbox.refund({ idempotencyKey: `${ref}/r4`, providerRef: ref, amountMinor: 1, currency: 'EUR', reason: 'x' }), 'amount_too_large');
      await refused(sandbox.refund({ idempotencyKey: `${ref}/r5`, providerRef: ref, amountMinor: 0, currency: 'EUR', reason: 'x' }), 'invalid_amount');
      expect((await getSandboxPayment(knex, ref))!.refundedMinor).to.equal(10_000);
      expect(await knex('sandbox_operations').where({ payment_id: ref, kind: 'refund' })).to.have.length(2);
    });

    it('lets only as many concurrent refunds through as the captured amount allows', async () => {
      const ref = await captured(10_000);
      const attempts = await Promise.allSettled(Array.from({ length: 4 }, (_, i) =>
        sandbox.refund({ idempotencyKey: `${ref}/concurrent-${i}`, providerRef: ref, amountMinor: 4_000, currency: 'EUR', reason: 'x' })));
      expect(attempts.filter((a) => a.status === 'fulfilled')).to.have.length(2);
      for (const a of attempts) if (a.status === 'rejected') expect(a.reason).to.be.instanceOf(PaymentRefused).and.have.property('code', 'amount_too_large');
      expect((await getSandboxPayment(knex, ref))!.refundedMinor).to.equal(8_000);
    });

    it('refuses to refund a payment that was never captured', async () => {
      const ref = await authorized();
      await refused(sandbox.refund({ idempotencyKey: `${ref}/r`, providerRef: ref, amountMinor: 100, currency: 'EUR', reason: 'x' }), 'payment_unexpected_state');
    });

    it('voids an authorization once; a voided payment cannot be captured, a captured one cannot be voided', async () => {
      const ref = await authorized();
      await Promise.all([sandbox.void({ idempotencyKey: `${ref}/void`, providerRef: ref }), sandbox.void({ idempotencyKey: `${ref}/void`, providerRef: ref })]);
      expect(await sandbox.retrieve(ref)).to.deep.equal({ state: 'voided' });
      await sandbox.void({ idempotencyKey: `${ref}/void-again`, providerRef: ref });
      expect(await knex('sandbox_operations').where({ payment_id: ref, kind: 'void' })).to.have.length(2);
      await refused(sandbox.capture({ idempotencyKey: `${ref}/capture`, providerRef: ref, amountMinor: 100, currency: 'EUR' }), 'payment_unexpected_state');

      const pending = await sandbox.authorize(authorizeRequest({ paymentMethod: 'pm_card_authenticationRequired' }));
      await sandbox.void({ idempotencyKey: `${pending.providerRef}/void`, providerRef: pending.providerRef! });
      expect((await completeSandboxAction(knex, pending.providerRef!, 'authenticate')).status).to.equal('voided');

      const done = await captured();
      await refused(sandbox.void({ idempotencyKey: `${done}/void`, providerRef: done }), 'payment_unexpected_state');
      expect(await sandbox.retrieve(done)).to.deep.equal({ state: 'captured' });
    });
  });
});
