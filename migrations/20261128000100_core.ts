/**
 * The core of the domain: branches, people, partners, the catalog, bookings and their money,
 * the timeline, idempotency and audit. Invariants live here as constraints, not only in code.
 * Money is always an integer amount in minor units plus an ISO 4217 currency code.
 */
import type { Knex } from 'knex';

const ROLES = ['admin', 'operator', 'marketer', 'accountant', 'partner', 'customer'];
const CURRENCY = "~ '^[A-Z]{3}$'";

export async function up(knex: Knex): Promise<void> {
  await knex.raw('create extension if not exists pgcrypto');

  await knex.schema.createTable('branches', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.string('code', 16).notNullable().unique();
    t.string('name').notNullable();
    t.specificType('country', 'char(2)').notNullable();
    t.string('timezone').notNullable();
    t.specificType('currency', 'char(3)').notNullable();
    t.integer('tax_rate_bp').notNullable().defaultTo(0); // basis points: 1600 = 16%
    t.string('tax_id_type', 16).notNullable();
    t.string('invoice_prefix', 12).notNullable().unique();
    t.timestamps(true, true);
  });
  await knex.raw(`alter table branches
    add constraint branches_country_iso check (country ~ '^[A-Z]{2}$'),
    add constraint branches_currency_iso check (currency ${CURRENCY}),
    add constraint branches_tax_rate_range check (tax_rate_bp between 0 and 10000)`);

  await knex.schema.createTable('partners', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.string('code', 32).notNullable().unique();
    t.string('name').notNullable();
    t.string('kind', 16).notNullable();
    t.uuid('branch_id').notNullable().references('branches.id');
    t.uuid('parent_partner_id').references('partners.id');
    t.integer('commission_bp').notNullable();
    t.integer('payment_terms_days').notNullable().defaultTo(0);
    t.string('statement_period', 16).notNullable();
    t.bigInteger('credit_limit_minor').notNullable().defaultTo(0);
    t.specificType('currency', 'char(3)').notNullable();
    t.string('status', 16).notNullable().defaultTo('active');
    t.timestamps(true, true);
  });
  await knex.raw(`alter table partners
    add constraint partners_kind check (kind in ('tour_operator', 'travel_agency', 'reseller')),
    add constraint partners_commission_range check (commission_bp between 0 and 10000),
    add constraint partners_terms check (payment_terms_days >= 0),
    add constraint partners_statement_period check (statement_period in ('monthly', 'fortnightly', 'contract')),
    add constraint partners_credit check (credit_limit_minor >= 0),
    add constraint partners_currency_iso check (currency ${CURRENCY}),
    add constraint partners_status check (status in ('active', 'suspended'))`);

  await knex.schema.createTable('customers', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.uuid('branch_id').references('branches.id');
    t.uuid('partner_id').references('partners.id'); // a partner's own client
    t.string('first_name').notNullable();
    t.string('last_name').notNullable();
    t.string('email');
    t.string('phone', 16);
    t.string('language', 2).notNullable().defaultTo('en');
    t.specificType('country', 'char(2)');
    t.boolean('consent_email_marketing').notNullable().defaultTo(false);
    t.boolean('consent_whatsapp').notNullable().defaultTo(false);
    t.specificType('tags', 'text[]').notNullable().defaultTo('{}');
    t.bigInteger('lifetime_value_minor').notNullable().defaultTo(0);
    t.text('notes');
    t.timestamps(true, true);
  });
  await knex.raw(`alter table customers
    add constraint customers_phone_e164 check (phone ~ '^\\+[1-9][0-9]{6,14}$'),
    add constraint customers_language check (language in ('es', 'en')),
    add constraint customers_country_iso check (country ~ '^[A-Z]{2}$')`);
  await knex.raw('create unique index customers_email_unique on customers (lower(email)) where partner_id is null');

  await knex.schema.createTable('users', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.string('email').notNullable();
    t.string('name').notNullable();
    t.string('password_hash').notNullable();
    t.string('role', 16).notNullable();
    t.uuid('branch_id').references('branches.id');
    t.uuid('partner_id').references('partners.id');
    t.uuid('customer_id').references('customers.id');
    t.boolean('active').notNullable().defaultTo(true);
    t.timestamp('last_login_at', { useTz: true });
    t.timestamps(true, true);
  });
  await knex.raw(`alter table users
    add constraint users_role check (role in (${ROLES.map((r) => `'${r}'`).join(', ')})),
    add constraint users_partner_scope check ((role = 'partner') = (partner_id is not null)),
    add constraint users_customer_scope check ((role = 'customer') = (customer_id is not null)),
    add constraint users_operator_branch check (role <> 'operator' or branch_id is not null)`);
  await knex.raw('create unique index users_email_unique on users (lower(email))');

  await knex.schema.createTable('refresh_tokens', (t) => {
    t.uuid('id').primary(); // the token's jti
    t.uuid('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.uuid('family_id').notNullable(); // all rotations of one login; reuse of a spent token revokes the family
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('used_at', { useTz: true });
    t.timestamp('revoked_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['family_id']);
    t.index(['expires_at']);
  });

  await knex.schema.createTable('tours', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.string('code', 32).notNullable().unique();
    t.uuid('branch_id').notNullable().references('branches.id');
    t.string('category', 32).notNullable();
    t.string('destination_city').notNullable();
    t.specificType('destination_country', 'char(2)').notNullable();
    t.integer('duration_minutes').notNullable();
    t.string('status', 16).notNullable().defaultTo('draft');
    t.integer('min_pax').notNullable().defaultTo(1);
    t.integer('max_pax').notNullable();
    t.specificType('currency', 'char(3)').notNullable();
    t.decimal('meeting_lat', 9, 6);
    t.decimal('meeting_lng', 9, 6);
    t.specificType('inclusions', 'text[]').notNullable().defaultTo('{}');
    t.specificType('accessibility', 'text[]').notNullable().defaultTo('{}');
    t.jsonb('sustainability').notNullable().defaultTo('{}');
    t.timestamps(true, true);
    t.index(['status', 'destination_country', 'category']);
  });
  await knex.raw(`alter table tours
    add constraint tours_status check (status in ('draft', 'active', 'archived')),
    add constraint tours_duration check (duration_minutes > 0),
    add constraint tours_pax check (min_pax >= 1 and max_pax >= min_pax),
    add constraint tours_currency_iso check (currency ${CURRENCY}),
    add constraint tours_country_iso check (destination_country ~ '^[A-Z]{2}$'),
    add constraint tours_lat check (meeting_lat between -90 and 90),
    add constraint tours_lng check (meeting_lng between -180 and 180)`);

  await knex.schema.createTable('tour_translations', (t) => {
    t.uuid('tour_id').notNullable().references('tours.id').onDelete('CASCADE');
    t.string('language', 2).notNullable();
    t.string('title').notNullable();
    t.text('summary').notNullable();
    t.text('description').notNullable();
    t.jsonb('itinerary').notNullable().defaultTo('[]');
    t.string('meeting_point').notNullable().defaultTo('');
    t.primary(['tour_id', 'language']);
  });
  await knex.raw(`alter table tour_translations add constraint tour_translations_language check (language in ('es', 'en'))`);

  await knex.schema.createTable('tour_prices', (t) => {
    t.uuid('tour_id').notNullable().references('tours.id').onDelete('CASCADE');
    t.string('pax_type', 16).notNullable();
    t.bigInteger('amount_minor').notNullable();
    t.integer('min_age');
    t.integer('max_age');
    t.primary(['tour_id', 'pax_type']);
  });
  await knex.raw(`alter table tour_prices
    add constraint tour_prices_pax_type check (pax_type in ('adult', 'child', 'infant')),
    add constraint tour_prices_amount check (amount_minor >= 0),
    add constraint tour_prices_ages check (min_age is null or max_age is null or min_age <= max_age)`);

  await knex.schema.createTable('departures', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.uuid('tour_id').notNullable().references('tours.id');
    t.timestamp('starts_at', { useTz: true }).notNullable();
    t.string('timezone').notNullable();
    t.integer('capacity').notNullable();
    t.integer('seats_held').notNullable().defaultTo(0);
    t.integer('seats_sold').notNullable().defaultTo(0);
    t.string('status', 16).notNullable().defaultTo('scheduled');
    t.timestamp('guarantee_deadline', { useTz: true });
    t.jsonb('price_overrides').notNullable().defaultTo('{}'); // pax type -> amount_minor
    t.string('guide_name');
    t.string('vehicle');
    t.timestamps(true, true);
    t.unique(['tour_id', 'starts_at']);
  });
  await knex.raw(`alter table departures
    add constraint departures_capacity check (capacity > 0),
    add constraint departures_seats_non_negative check (seats_held >= 0 and seats_sold >= 0),
    add constraint departures_never_oversold check (seats_held + seats_sold <= capacity),
    add constraint departures_status check (status in ('scheduled', 'guaranteed', 'cancelled', 'departed', 'completed'))`);
  // The availability read: open departures by date, with seats left computed on the row.
  await knex.raw(`create index departures_open_by_date on departures (starts_at, id)
    include (tour_id, capacity, seats_held, seats_sold) where status in ('scheduled', 'guaranteed')`);
  await knex.raw('create index departures_tour_date on departures (tour_id, starts_at, id)');

  await knex.schema.createTable('bookings', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.string('reference', 16).notNullable().unique();
    t.uuid('departure_id').notNullable().references('departures.id');
    t.uuid('branch_id').notNullable().references('branches.id');
    t.uuid('customer_id').references('customers.id');
    t.uuid('partner_id').references('partners.id');
    t.uuid('created_by_user_id').references('users.id');
    t.string('status', 24).notNullable().defaultTo('held');
    t.integer('pax_count').notNullable();
    t.specificType('currency', 'char(3)').notNullable();
    t.bigInteger('total_minor').notNullable();
    t.bigInteger('net_minor').notNullable();
    t.bigInteger('commission_minor').notNullable().defaultTo(0);
    t.bigInteger('deposit_minor').notNullable().defaultTo(0);
    t.bigInteger('amount_paid_minor').notNullable().defaultTo(0);
    t.bigInteger('amount_refunded_minor').notNullable().defaultTo(0);
    t.timestamp('hold_expires_at', { useTz: true });
    t.date('balance_due_on');
    t.jsonb('contact').notNullable();
    t.string('promo_code', 32);
    t.string('language', 2).notNullable().defaultTo('en');
    t.string('failure_reason');
    t.timestamps(true, true);
    t.index(['departure_id']);
    t.index(['customer_id', 'created_at']);
    t.index(['partner_id', 'created_at']);
    t.index(['branch_id', 'status', 'created_at']);
  });
  await knex.raw(`alter table bookings
    add constraint bookings_status check (status in ('held', 'awaiting_payment', 'confirmed', 'paid_in_full',
      'in_progress', 'completed', 'expired', 'failed', 'cancelled', 'no_show')),
    add constraint bookings_pax check (pax_count > 0),
    add constraint bookings_currency_iso check (currency ${CURRENCY}),
    add constraint bookings_money check (total_minor >= 0 and net_minor >= 0 and commission_minor >= 0
      and net_minor + commission_minor = total_minor and deposit_minor between 0 and total_minor
      and amount_paid_minor >= 0 and amount_refunded_minor between 0 and amount_paid_minor),
    add constraint bookings_buyer check (customer_id is not null or partner_id is not null)`);

  await knex.schema.createTable('booking_items', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.uuid('booking_id').notNullable().references('bookings.id').onDelete('CASCADE');
    t.integer('position').notNullable();
    t.string('kind', 16).notNullable();
    t.string('description').notNullable();
    t.integer('quantity').notNullable();
    t.bigInteger('unit_minor').notNullable();
    t.bigInteger('total_minor').notNullable();
    t.string('supplier_ref');
    t.string('status', 16).notNullable().defaultTo('pending');
    t.unique(['booking_id', 'position']);
  });
  await knex.raw(`alter table booking_items
    add constraint booking_items_kind check (kind in ('tour', 'hotel', 'flight', 'discount', 'fee')),
    add constraint booking_items_quantity check (quantity > 0),
    add constraint booking_items_total check (total_minor = unit_minor * quantity),
    add constraint booking_items_status check (status in ('pending', 'confirmed', 'cancelled', 'failed'))`);

  await knex.schema.createTable('passengers', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.uuid('booking_id').notNullable().references('bookings.id').onDelete('CASCADE');
    t.string('pax_type', 16).notNullable();
    t.string('first_name').notNullable();
    t.string('last_name').notNullable();
    t.date('birth_date');
    t.index(['booking_id']);
  });
  await knex.raw(`alter table passengers add constraint passengers_pax_type check (pax_type in ('adult', 'child', 'infant'))`);

  await knex.schema.createTable('payments', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.uuid('booking_id').notNullable().references('bookings.id');
    t.string('provider', 16).notNullable();
    t.string('provider_ref');
    t.string('purpose', 16).notNullable();
    t.string('status', 24).notNullable();
    t.bigInteger('amount_minor').notNullable();
    t.specificType('currency', 'char(3)').notNullable();
    t.string('idempotency_key').notNullable().unique();
    t.string('failure_reason');
    t.timestamps(true, true);
    t.index(['booking_id']);
    t.unique(['provider', 'provider_ref']);
  });
  await knex.raw(`alter table payments
    add constraint payments_provider check (provider in ('sandbox', 'stripe', 'paypal', 'bank_transfer', 'cash')),
    add constraint payments_purpose check (purpose in ('deposit', 'balance', 'full')),
    add constraint payments_status check (status in ('pending', 'requires_action', 'authorized', 'captured',
      'failed', 'voided', 'refunded', 'partially_refunded')),
    add constraint payments_amount check (amount_minor > 0),
    add constraint payments_currency_iso check (currency ${CURRENCY})`);

  await knex.schema.createTable('refunds', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.uuid('payment_id').notNullable().references('payments.id');
    t.uuid('booking_id').notNullable().references('bookings.id');
    t.bigInteger('amount_minor').notNullable();
    t.specificType('currency', 'char(3)').notNullable();
    t.string('status', 16).notNullable();
    t.string('reason').notNullable();
    t.string('provider_ref');
    t.string('idempotency_key').notNullable().unique();
    t.timestamps(true, true);
    t.index(['booking_id']);
  });
  await knex.raw(`alter table refunds
    add constraint refunds_amount check (amount_minor > 0),
    add constraint refunds_status check (status in ('pending', 'awaiting_approval', 'succeeded', 'failed', 'rejected')),
    add constraint refunds_currency_iso check (currency ${CURRENCY})`);

  await knex.schema.createTable('booking_events', (t) => {
    t.bigIncrements('id');
    t.uuid('booking_id').notNullable().references('bookings.id').onDelete('CASCADE');
    t.string('type', 48).notNullable();
    t.string('actor').notNullable(); // 'system', 'user:<id>', 'workflow'
    t.jsonb('data').notNullable().defaultTo('{}');
    // Set by activities so that a retried append is a no-op rather than a duplicate line.
    t.string('dedupe_key');
    t.timestamp('occurred_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['booking_id', 'dedupe_key']);
    t.index(['booking_id', 'id']);
  });

  await knex.schema.createTable('idempotency_keys', (t) => {
    t.string('principal').notNullable(); // user id, or 'anonymous'
    t.string('key', 255).notNullable();
    t.string('method', 8).notNullable();
    t.string('path').notNullable();
    t.string('request_hash', 64).notNullable();
    t.integer('status_code');
    t.jsonb('response_body');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('completed_at', { useTz: true });
    t.primary(['principal', 'key']);
    t.index(['created_at']);
  });

  await knex.schema.createTable('audit_log', (t) => {
    t.bigIncrements('id');
    t.uuid('actor_user_id').references('users.id');
    t.string('action', 64).notNullable();
    t.string('entity_type', 32).notNullable();
    t.string('entity_id');
    t.jsonb('data').notNullable().defaultTo('{}');
    t.string('request_id');
    t.string('ip');
    t.timestamp('at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['entity_type', 'entity_id']);
    t.index(['actor_user_id', 'at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of [
    'audit_log', 'idempotency_keys', 'booking_events', 'refunds', 'payments', 'passengers', 'booking_items',
    'bookings', 'departures', 'tour_prices', 'tour_translations', 'tours', 'refresh_tokens', 'users',
    'customers', 'partners', 'branches',
  ]) {
    await knex.schema.dropTableIfExists(table);
  }
}
