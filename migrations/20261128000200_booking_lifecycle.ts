/**
 * What the booking lifecycle needs beyond the core: pricing rules and promo codes, package
 * components and supplier reservations, approvals, webhook deduplication, the sandbox payment
 * provider's ledger, the waitlist, and the message outbox (until the email/WhatsApp providers land).
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('bookings', (t) => {
    // Transactional outbox for the lifecycle workflow: set once the workflow is known to run.
    t.timestamp('workflow_started_at', { useTz: true });
    t.string('payment_plan', 16).notNullable().defaultTo('full');
    t.jsonb('price_breakdown').notNullable().defaultTo('{}');
  });
  await knex.raw(`alter table bookings add constraint bookings_payment_plan check (payment_plan in ('full', 'deposit', 'on_account'))`);
  await knex.raw(`create index bookings_workflow_pending on bookings (created_at) where workflow_started_at is null`);

  await knex.schema.createTable('booking_rules', (t) => {
    t.uuid('branch_id').primary().references('branches.id');
    t.jsonb('rules').notNullable().defaultTo('{}'); // overrides of the defaults in activities/booking-rules.ts
    t.timestamps(true, true);
  });

  await knex.schema.createTable('pricing_rules', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.uuid('branch_id').references('branches.id');
    t.uuid('tour_id').references('tours.id');
    t.string('kind', 16).notNullable();
    t.integer('adjustment_bp').notNullable(); // +1500 = 15% more, -1000 = 10% less
    t.date('valid_from');
    t.date('valid_to');
    t.integer('min_days_before'); // early bird: at least N days before departure
    t.integer('max_days_before'); // last minute: at most N days before departure
    t.integer('min_pax'); // group: from N passengers
    t.boolean('active').notNullable().defaultTo(true);
  });
  await knex.raw(`alter table pricing_rules
    add constraint pricing_rules_kind check (kind in ('seasonal', 'early_bird', 'group', 'last_minute')),
    add constraint pricing_rules_adjustment check (adjustment_bp between -9000 and 20000),
    add constraint pricing_rules_dates check (valid_from is null or valid_to is null or valid_from <= valid_to)`);

  await knex.schema.createTable('promo_codes', (t) => {
    t.string('code', 32).primary();
    t.integer('percent_off_bp');
    t.bigInteger('amount_off_minor');
    t.specificType('currency', 'char(3)');
    t.timestamp('valid_from', { useTz: true });
    t.timestamp('valid_to', { useTz: true });
    t.integer('max_uses');
    t.integer('used_count').notNullable().defaultTo(0);
    t.boolean('active').notNullable().defaultTo(true);
  });
  await knex.raw(`alter table promo_codes
    add constraint promo_codes_one_discount check ((percent_off_bp is null) <> (amount_off_minor is null)),
    add constraint promo_codes_percent check (percent_off_bp between 1 and 10000),
    add constraint promo_codes_amount check (amount_off_minor is null or (amount_off_minor > 0 and currency is not null)),
    add constraint promo_codes_uses check (max_uses is null or used_count <= max_uses)`);

  await knex.schema.createTable('tour_components', (t) => {
    t.uuid('tour_id').notNullable().references('tours.id').onDelete('CASCADE');
    t.integer('position').notNullable();
    t.string('kind', 16).notNullable();
    t.string('supplier', 32).notNullable();
    t.string('description').notNullable();
    t.bigInteger('unit_minor').notNullable().defaultTo(0); // per passenger, included in the tour price when 0
    t.primary(['tour_id', 'position']);
  });
  await knex.raw(`alter table tour_components add constraint tour_components_kind check (kind in ('hotel', 'flight'))`);

  await knex.schema.createTable('supplier_reservations', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.string('supplier', 32).notNullable();
    t.string('idempotency_key').notNullable().unique();
    t.uuid('booking_id').notNullable().references('bookings.id');
    t.uuid('booking_item_id').notNullable().references('booking_items.id');
    t.string('status', 16).notNullable();
    t.string('failure_reason');
    t.timestamps(true, true);
  });
  await knex.raw(`alter table supplier_reservations add constraint supplier_reservations_status check (status in ('pending', 'confirmed', 'failed', 'cancelled'))`);

  await knex.schema.createTable('approvals', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.uuid('booking_id').notNullable().references('bookings.id');
    t.uuid('branch_id').notNullable().references('branches.id');
    t.string('kind', 24).notNullable();
    t.string('status', 16).notNullable().defaultTo('pending');
    t.string('workflow_id').notNullable();
    t.bigInteger('amount_minor').notNullable();
    t.specificType('currency', 'char(3)').notNullable();
    t.string('reason').notNullable();
    t.uuid('requested_by_user_id').references('users.id');
    t.uuid('decided_by_user_id').references('users.id');
    t.string('decision_note');
    t.timestamp('requested_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('decided_at', { useTz: true });
    t.string('dedupe_key').notNullable().unique();
    t.index(['branch_id', 'status']);
  });
  await knex.raw(`alter table approvals
    add constraint approvals_kind check (kind in ('refund')),
    add constraint approvals_status check (status in ('pending', 'approved', 'rejected', 'expired'))`);

  await knex.schema.createTable('webhook_events', (t) => {
    t.string('provider', 16).notNullable();
    t.string('event_id').notNullable();
    t.string('type').notNullable();
    t.jsonb('payload').notNullable();
    t.uuid('booking_id');
    t.timestamp('received_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['provider', 'event_id']);
  });

  await knex.schema.createTable('sandbox_payments', (t) => {
    t.string('id', 40).primary();
    t.string('idempotency_key').notNullable().unique();
    t.uuid('booking_id').notNullable();
    t.string('payment_method').notNullable();
    t.bigInteger('amount_minor').notNullable();
    t.bigInteger('captured_minor').notNullable().defaultTo(0);
    t.bigInteger('refunded_minor').notNullable().defaultTo(0);
    t.specificType('currency', 'char(3)').notNullable();
    t.string('status', 24).notNullable();
    t.string('decline_code');
    t.string('description').notNullable().defaultTo('');
    t.string('return_url');
    t.timestamps(true, true);
  });
  await knex.raw(`alter table sandbox_payments
    add constraint sandbox_payments_status check (status in ('requires_action', 'authorized', 'captured', 'declined', 'voided')),
    add constraint sandbox_payments_money check (captured_minor <= amount_minor and refunded_minor <= captured_minor)`);
  await knex.schema.createTable('sandbox_operations', (t) => {
    // Every capture/void/refund with its idempotency key: a retried call returns the first result.
    t.string('idempotency_key').primary();
    t.string('payment_id', 40).notNullable().references('sandbox_payments.id');
    t.string('kind', 16).notNullable();
    t.bigInteger('amount_minor').notNullable().defaultTo(0);
    t.string('result_ref', 40).notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('waitlist_entries', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.uuid('departure_id').notNullable().references('departures.id');
    t.uuid('customer_id').references('customers.id');
    t.uuid('partner_id').references('partners.id');
    t.uuid('created_by_user_id').references('users.id');
    t.integer('pax_count').notNullable();
    t.jsonb('request').notNullable(); // passengers and contact, as for a booking
    t.string('status', 16).notNullable().defaultTo('waiting');
    t.uuid('offered_booking_id').references('bookings.id');
    t.timestamp('offered_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['departure_id', 'status', 'created_at']);
  });
  await knex.raw(`alter table waitlist_entries
    add constraint waitlist_status check (status in ('waiting', 'offered', 'booked', 'expired', 'cancelled')),
    add constraint waitlist_pax check (pax_count > 0)`);
  // One place in line per person and departure.
  await knex.raw(`create unique index waitlist_one_entry on waitlist_entries (departure_id, lower(request->'contact'->>'email')) where status = 'waiting'`);

  await knex.schema.createTable('outbox_messages', (t) => {
    t.bigIncrements('id');
    t.string('channel', 16).notNullable();
    t.string('recipient').notNullable();
    t.string('template', 48).notNullable();
    t.string('language', 2).notNullable();
    t.jsonb('data').notNullable().defaultTo('{}');
    t.uuid('booking_id').references('bookings.id');
    t.string('dedupe_key').notNullable().unique();
    t.string('status', 16).notNullable().defaultTo('queued');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['booking_id']);
  });
  await knex.raw(`alter table outbox_messages add constraint outbox_channel check (channel in ('email', 'whatsapp'))`);
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['outbox_messages', 'waitlist_entries', 'sandbox_operations', 'sandbox_payments', 'webhook_events', 'approvals',
    'supplier_reservations', 'tour_components', 'promo_codes', 'pricing_rules', 'booking_rules']) {
    await knex.schema.dropTableIfExists(table);
  }
  await knex.schema.alterTable('bookings', (t) => {
    t.dropColumn('workflow_started_at');
    t.dropColumn('payment_plan');
    t.dropColumn('price_breakdown');
  });
}
