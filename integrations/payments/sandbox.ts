/**
 * The sandbox payment provider: a real, local provider for development, demos and tests. Its
 * state lives in sandbox_payments and sandbox_operations, so an idempotency key means the same
 * thing after a process crash as before it. Test payment methods use Stripe's test names:
 *
 *   pm_card_visa, pm_card_mastercard   → authorized
 *   pm_card_chargeDeclined              → declined (card_declined)
 *   pm_card_insufficientFunds           → declined (insufficient_funds)
 *   pm_card_authenticationRequired      → requires_action: the customer authenticates (or fails)
 *                                         on the hosted page /pay/sandbox/<id>, which calls
 *                                         completeSandboxAction
 *   pm_card_<cc> (e.g. pm_card_br)      → authorized, a card issued in that country (ISO 3166
 *                                         alpha-2, lower case): what FraudGuardian compares
 *   anything else                       → declined (invalid_payment_method)
 *
 * Money rules (captured ≤ amount, refunded ≤ captured) are the table's CHECK; this module turns
 * a violation into a PaymentRefused, it does not re-check them first.
 */
import crypto from 'node:crypto';
import type { Knex } from 'knex';
import {
  PaymentRefused,
  type AuthorizeRequest, type AuthorizeResult, type CaptureRequest, type CaptureResult, type PaymentProvider,
  type PaymentState, type RefundRequest, type RefundResult, type VoidRequest,
} from './types';

export type SandboxStatus = 'requires_action' | 'authorized' | 'captured' | 'declined' | 'voided';

export interface SandboxPayment {
  id: string;
  idempotencyKey: string;
  bookingId: string;
  paymentMethod: string;
  amountMinor: number;
  capturedMinor: number;
  refundedMinor: number;
  currency: string;
  status: SandboxStatus;
  declineCode: string | null;
  /** Human text for declineCode, for the hosted page and for AuthorizeResult.reason. */
  declineReason: string | null;
  description: string;
  returnUrl: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** What each test payment method does at authorize time. */
const TEST_METHODS: Record<string, { status: 'authorized' | 'requires_action' } | { status: 'declined'; code: string }> = {
  pm_card_visa: { status: 'authorized' },
  pm_card_mastercard: { status: 'authorized' },
  pm_card_chargeDeclined: { status: 'declined', code: 'card_declined' },
  pm_card_insufficientFunds: { status: 'declined', code: 'insufficient_funds' },
  pm_card_authenticationRequired: { status: 'requires_action' },
};

const COUNTRY_CARD = /^pm_card_([a-z]{2})$/;

/** The issuing country of a sandbox test card (`pm_card_br` → BR); null for the other test cards. */
export function sandboxCardCountry(paymentMethod: string): string | null {
  const m = COUNTRY_CARD.exec(paymentMethod);
  return m ? m[1].toUpperCase() : null;
}

const DECLINE_REASONS: Record<string, string> = {
  card_declined: 'Your card was declined.',
  insufficient_funds: 'Your card has insufficient funds.',
  invalid_payment_method: 'The payment method is not one of the sandbox test cards (pm_card_visa, pm_card_chargeDeclined, ...).',
  authentication_failed: 'The customer failed to authenticate the payment.',
};

function newId(prefix: string): string {
  return `${prefix}${crypto.randomBytes(12).toString('hex')}`; // [0-9a-f]: safe in URLs and paths as is
}

function toPayment(row: any): SandboxPayment {
  return {
    id: row.id,
    idempotencyKey: row.idempotency_key,
    bookingId: row.booking_id,
    paymentMethod: row.payment_method,
    amountMinor: Number(row.amount_minor),
    capturedMinor: Number(row.captured_minor),
    refundedMinor: Number(row.refunded_minor),
    currency: String(row.currency).trim(),
    status: row.status,
    declineCode: row.decline_code,
    declineReason: row.decline_code ? DECLINE_REASONS[row.decline_code] ?? row.decline_code : null,
    description: row.description,
    returnUrl: row.return_url,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** The hosted page's view of a payment; undefined when there is no such payment. */
export async function getSandboxPayment(knex: Knex, id: string): Promise<SandboxPayment | undefined> {
  const row = await knex('sandbox_payments').where({ id }).first();
  return row ? toPayment(row) : undefined;
}

/**
 * The customer's answer on the hosted page: requires_action → authorized ('authenticate') or
 * declined ('fail'). Idempotent: the first answer wins and later calls return the row as it is.
 */
export async function completeSandboxAction(knex: Knex, id: string, outcome: 'authenticate' | 'fail'): Promise<SandboxPayment> {
  const [updated] = await knex('sandbox_payments')
    .where({ id, status: 'requires_action' })
    .update(outcome === 'authenticate'
      ? { status: 'authorized', updated_at: knex.fn.now() }
      : { status: 'declined', decline_code: 'authentication_failed', updated_at: knex.fn.now() })
    .returning('*');
  if (updated) return toPayment(updated);
  const current = await getSandboxPayment(knex, id);
  if (!current) throw new PaymentRefused('resource_missing', `No sandbox payment ${id}`);
  return current;
}

function isMoneyCheckViolation(err: unknown): boolean {
  return (err as { code?: string; constraint?: string }).code === '23514'
    && (err as { constraint?: string }).constraint === 'sandbox_payments_money';
}

export function createSandboxProvider({ knex, publicUrl }: { knex: Knex; publicUrl: string }): PaymentProvider {
  const actionUrl = (id: string) => `${publicUrl.replace(/\/+$/, '')}/pay/sandbox/${id}`;

  function toAuthorizeResult(payment: SandboxPayment): AuthorizeResult {
    switch (payment.status) {
      case 'requires_action':
        return { status: 'requires_action', providerRef: payment.id, actionUrl: actionUrl(payment.id) };
      case 'declined':
        return { status: 'declined', providerRef: payment.id, reason: payment.declineReason ?? 'Declined', code: payment.declineCode ?? 'card_declined' };
      default:
        // authorized, or later captured/voided: the authorization itself succeeded.
        return { status: 'authorized', providerRef: payment.id };
    }
  }

  /**
   * Runs one capture/void/refund at most once per idempotency key. The operation row and its
   * effect on the payment commit together; a concurrent duplicate waits on the key's unique
   * index and then replays the stored result. A refusal rolls both back, so nothing is recorded.
   */
  async function once(
    idempotencyKey: string,
    operation: { paymentId: string; kind: 'capture' | 'void' | 'refund'; amountMinor: number },
    apply: (trx: Knex.Transaction, resultRef: string) => Promise<void>,
  ): Promise<{ resultRef: string; payment: SandboxPayment }> {
    return knex.transaction(async (trx) => {
      const resultRef = operation.kind === 'refund' ? newId('sbx_re_') : operation.paymentId;
      const [inserted] = await trx('sandbox_operations')
        .insert({ idempotency_key: idempotencyKey, payment_id: operation.paymentId, kind: operation.kind, amount_minor: operation.amountMinor, result_ref: resultRef })
        .onConflict('idempotency_key').ignore()
        .returning('*')
        .catch((err) => {
          if ((err as { code?: string }).code === '23503') throw new PaymentRefused('resource_missing', `No sandbox payment ${operation.paymentId}`);
          throw err;
        });
      if (!inserted) {
        const stored = await trx('sandbox_operations').where({ idempotency_key: idempotencyKey }).first();
        if (stored.payment_id !== operation.paymentId || stored.kind !== operation.kind || Number(stored.amount_minor) !== operation.amountMinor) {
          throw new PaymentRefused('idempotency_error',
            `Idempotency key ${idempotencyKey} was used for a ${stored.kind} of ${stored.amount_minor} on ${stored.payment_id}, not this ${operation.kind}`);
        }
        const payment = await trx('sandbox_payments').where({ id: stored.payment_id }).first();
        return { resultRef: stored.result_ref, payment: toPayment(payment) };
      }
      await apply(trx, resultRef);
      const payment = await trx('sandbox_payments').where({ id: operation.paymentId }).first();
      return { resultRef, payment: toPayment(payment) };
    });
  }

  /** Why an UPDATE guarded by status matched nothing. */
  async function refusal(trx: Knex.Transaction, id: string, action: string): Promise<PaymentRefused> {
    const row = await trx('sandbox_payments').where({ id }).first();
    if (!row) return new PaymentRefused('resource_missing', `No sandbox payment ${id}`);
    return new PaymentRefused('payment_unexpected_state', `Cannot ${action} sandbox payment ${id}: it is ${row.status}`);
  }

  return {
    name: 'sandbox',

    async authorize(request: AuthorizeRequest): Promise<AuthorizeResult> {
      const outcome = TEST_METHODS[request.paymentMethod] ?? (sandboxCardCountry(request.paymentMethod) ? { status: 'authorized' as const } : { status: 'declined', code: 'invalid_payment_method' });
      const [inserted] = await knex('sandbox_payments')
        .insert({
          id: newId('sbx_pay_'),
          idempotency_key: request.idempotencyKey,
          booking_id: request.bookingId,
          payment_method: request.paymentMethod,
          amount_minor: request.amountMinor,
          currency: request.currency.toUpperCase(),
          status: outcome.status,
          decline_code: outcome.status === 'declined' ? outcome.code : null,
          description: request.description,
          return_url: request.returnUrl,
        })
        .onConflict('idempotency_key').ignore()
        .returning('*');
      if (inserted) return toAuthorizeResult(toPayment(inserted));

      const stored = toPayment(await knex('sandbox_payments').where({ idempotency_key: request.idempotencyKey }).first());
      if (stored.amountMinor !== request.amountMinor || stored.currency !== request.currency.toUpperCase()
        || stored.paymentMethod !== request.paymentMethod || stored.bookingId !== request.bookingId) {
        throw new PaymentRefused('idempotency_error', `Idempotency key ${request.idempotencyKey} was used for a different authorization (${stored.id})`);
      }
      return toAuthorizeResult(stored);
    },

    async retrieve(providerRef: string): Promise<{ state: PaymentState; reason?: string }> {
      const payment = await getSandboxPayment(knex, providerRef);
      if (!payment) return { state: 'unknown', reason: `No sandbox payment ${providerRef}` };
      return payment.status === 'declined' ? { state: 'declined', reason: payment.declineReason ?? undefined } : { state: payment.status };
    },

    async capture(request: CaptureRequest): Promise<CaptureResult> {
      if (!Number.isInteger(request.amountMinor) || request.amountMinor <= 0) {
        throw new PaymentRefused('invalid_amount', `Capture amount must be a positive integer, got ${request.amountMinor}`);
      }
      const { payment } = await once(request.idempotencyKey, { paymentId: request.providerRef, kind: 'capture', amountMinor: request.amountMinor }, async (trx) => {
        let updated: unknown[];
        try {
          updated = await trx('sandbox_payments')
            .where({ id: request.providerRef, status: 'authorized', currency: request.currency.toUpperCase() })
            .update({ status: 'captured', captured_minor: request.amountMinor, updated_at: trx.fn.now() })
            .returning('id');
        } catch (err) {
          if (isMoneyCheckViolation(err)) throw new PaymentRefused('amount_too_large', `Cannot capture ${request.amountMinor}: more than was authorized`);
          throw err;
        }
        if (updated.length === 0) {
          const row = await trx('sandbox_payments').where({ id: request.providerRef }).first();
          if (row && row.status === 'authorized') {
            throw new PaymentRefused('currency_mismatch', `Sandbox payment ${row.id} is in ${String(row.currency).trim()}, not ${request.currency}`);
          }
          throw await refusal(trx, request.providerRef, 'capture');
        }
      });
      return { status: 'captured', providerRef: payment.id };
    },

    async void(request: VoidRequest): Promise<void> {
      await once(request.idempotencyKey, { paymentId: request.providerRef, kind: 'void', amountMinor: 0 }, async (trx) => {
        const updated = await trx('sandbox_payments')
          .where({ id: request.providerRef })
          .whereIn('status', ['authorized', 'requires_action'])
          .update({ status: 'voided', updated_at: trx.fn.now() })
          .returning('id');
        if (updated.length > 0) return;
        const row = await trx('sandbox_payments').where({ id: request.providerRef }).first();
        // Nothing is held on a voided or declined payment: voiding it again is a no-op, not an error.
        if (row && (row.status === 'voided' || row.status === 'declined')) return;
        throw await refusal(trx, request.providerRef, 'void');
      });
    },

    async refund(request: RefundRequest): Promise<RefundResult> {
      if (!Number.isInteger(request.amountMinor) || request.amountMinor <= 0) {
        throw new PaymentRefused('invalid_amount', `Refund amount must be a positive integer, got ${request.amountMinor}`);
      }
      const { resultRef } = await once(request.idempotencyKey, { paymentId: request.providerRef, kind: 'refund', amountMinor: request.amountMinor }, async (trx) => {
        let updated: unknown[];
        try {
          updated = await trx('sandbox_payments')
            .where({ id: request.providerRef, status: 'captured', currency: request.currency.toUpperCase() })
            .update({ refunded_minor: trx.raw('refunded_minor + ?', [request.amountMinor]), updated_at: trx.fn.now() })
            .returning('id');
        } catch (err) {
          if (isMoneyCheckViolation(err)) throw new PaymentRefused('amount_too_large', `Cannot refund ${request.amountMinor}: more than is left of what was captured`);
          throw err;
        }
        if (updated.length === 0) {
          const row = await trx('sandbox_payments').where({ id: request.providerRef }).first();
          if (row && row.status === 'captured') {
            throw new PaymentRefused('currency_mismatch', `Sandbox payment ${row.id} is in ${String(row.currency).trim()}, not ${request.currency}`);
          }
          throw await refusal(trx, request.providerRef, 'refund');
        }
      });
      return { status: 'succeeded', refundRef: resultRef };
    },
  };
}
