/**
 * Booking correctness:
 * - approvals: a refund that a provider refused or never answered waits in the same inbox
 *   (`manual_refund`: settle it by hand, then approve); every approval has a deadline and says
 *   what exactly will happen (`data`); at most one pending refund approval per booking, so a
 *   second request can never overwrite the first.
 * - a package component remembers the supplier reservation it holds (`booking_items.reservation_key`),
 *   so an amendment can release it after reserving the new one.
 * - a refused refund keeps the provider's reason (`refunds.failure_reason`).
 * - idempotency keys whose outcome is unknown (the workflow did not answer in time, or the API
 *   lost the answer) are kept and marked, so the client's retry re-attaches to the same workflow
 *   update (the key is its update id) instead of running a new one.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`alter table approvals drop constraint approvals_kind`);
  await knex.raw(`alter table approvals add constraint approvals_kind check (kind in ('refund', 'manual_refund'))`);
  await knex.schema.alterTable('approvals', (t) => {
    t.timestamp('expires_at', { useTz: true });
    t.jsonb('data').notNullable().defaultTo('{}');
  });
  await knex.raw(`create unique index approvals_one_pending_refund on approvals (booking_id) where status = 'pending' and kind = 'refund'`);
  await knex.schema.alterTable('idempotency_keys', (t) => {
    t.timestamp('unknown_at', { useTz: true });
  });
  await knex.schema.alterTable('refunds', (t) => {
    t.string('failure_reason', 500);
  });
  await knex.schema.alterTable('booking_items', (t) => {
    t.string('reservation_key');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('booking_items', (t) => t.dropColumn('reservation_key'));
  await knex.schema.alterTable('refunds', (t) => t.dropColumn('failure_reason'));
  await knex.schema.alterTable('idempotency_keys', (t) => t.dropColumn('unknown_at'));
  await knex.raw('drop index approvals_one_pending_refund');
  await knex.schema.alterTable('approvals', (t) => {
    t.dropColumn('data');
    t.dropColumn('expires_at');
  });
  await knex.raw(`delete from approvals where kind = 'manual_refund'`);
  await knex.raw(`alter table approvals drop constraint approvals_kind`);
  await knex.raw(`alter table approvals add constraint approvals_kind check (kind in ('refund'))`);
}
