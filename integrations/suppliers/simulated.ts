/**
 * The simulated supplier (hotels, flights) for development and tests: configurable latency and
 * failure rate; the supplier code `sim-fail` always refuses, so a test can fail a chosen
 * component, and `sim-slow-<ms>` answers after that many milliseconds (default 3000), so a test
 * or a demo can watch a slow saga. Its reservations are rows keyed by idempotency key, so a retried call returns the
 * first answer, as a real supplier API with idempotency would.
 */
import type { Knex } from 'knex';

export interface SupplierReservation { reservationId: string; status: 'confirmed' }

export class SupplierRefused extends Error {
  constructor(readonly supplier: string, message: string) {
    super(message);
    this.name = 'SupplierRefused';
  }
}

export interface Supplier {
  reserve(request: { idempotencyKey: string; supplier: string; bookingId: string; bookingItemId: string; description: string }): Promise<SupplierReservation>;
  cancel(request: { idempotencyKey: string }): Promise<void>;
}

export interface SimulatedSupplierOptions {
  knex: Knex;
  latencyMs?: number;
  failureRate?: number;
  random?: () => number;
}

export function createSimulatedSupplier({ knex, latencyMs = 0, failureRate = 0, random = Math.random }: SimulatedSupplierOptions): Supplier {
  const pause = () => (latencyMs > 0 ? new Promise((r) => setTimeout(r, latencyMs)) : Promise.resolve());
  return {
    async reserve(req) {
      await pause();
      const slow = /^sim-slow(?:-(\d+))?$/.exec(req.supplier);
      if (slow) await new Promise((r) => setTimeout(r, Math.min(Number(slow[1] ?? 3000), 9000)));
      const previous = await knex('supplier_reservations').where({ idempotency_key: req.idempotencyKey }).first();
      if (previous) {
        if (previous.status === 'failed') throw new SupplierRefused(req.supplier, previous.failure_reason);
        return { reservationId: previous.id, status: 'confirmed' };
      }
      const refuse = req.supplier === 'sim-fail' || random() < failureRate;
      const reason = refuse ? `${req.supplier} has no availability for "${req.description}"` : null;
      const [row] = await knex('supplier_reservations')
        .insert({ supplier: req.supplier, idempotency_key: req.idempotencyKey, booking_id: req.bookingId, booking_item_id: req.bookingItemId, status: refuse ? 'failed' : 'confirmed', failure_reason: reason })
        .onConflict('idempotency_key').merge(['updated_at'])
        .returning(['id', 'status', 'failure_reason']);
      if (row.status === 'failed') throw new SupplierRefused(req.supplier, row.failure_reason);
      return { reservationId: row.id, status: 'confirmed' };
    },
    async cancel(req) {
      await pause();
      await knex('supplier_reservations').where({ idempotency_key: req.idempotencyKey, status: 'confirmed' }).update({ status: 'cancelled', updated_at: knex.fn.now() });
    },
  };
}
