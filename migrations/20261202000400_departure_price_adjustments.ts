/**
 * Dynamic pricing (RevenueMaximizer): each tour may say how far its price may move from its base
 * price (floor and ceiling in basis points of the base: 8500 = 85%, 12500 = 125%; both null: the
 * tour is not priced dynamically) and its booking curve (expected share of seats sold by days
 * before departure; null: the default curve). An approved price change is a departure price
 * adjustment row; the latest in effect prices new holds (models/holds.ts).
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`alter table tours
    add column price_floor_bp integer,
    add column price_ceiling_bp integer,
    add column booking_curve jsonb,
    add constraint tours_price_band check ((price_floor_bp is null) = (price_ceiling_bp is null)
      and (price_floor_bp is null or (price_floor_bp between 1 and 10000 and price_ceiling_bp between 10000 and 50000))),
    add constraint tours_booking_curve check (booking_curve is null or jsonb_typeof(booking_curve) = 'array')`);
  await knex.raw(`create table departure_price_adjustments (
    id uuid primary key default gen_random_uuid(),
    departure_id uuid not null references departures(id),
    adjustment_bp integer not null check (adjustment_bp between -9999 and 40000),
    reason text not null,
    approved_by_run text not null,
    step_key text not null unique,
    effective_from timestamptz not null default now(),
    created_at timestamptz not null default now()
  )`);
  await knex.raw('create index departure_price_adjustments_current on departure_price_adjustments (departure_id, effective_from desc, created_at desc)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop table departure_price_adjustments');
  await knex.raw(`alter table tours drop constraint tours_booking_curve, drop constraint tours_price_band,
    drop column booking_curve, drop column price_ceiling_bp, drop column price_floor_bp`);
}
