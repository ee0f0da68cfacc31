/**
 * Incidents (a supplier failure, or a crisis at a place and time) and what SupplyChain and
 * RiskManager need from the catalog: who operates a tour or a departure (`supplier`), the
 * passengers a departure needs to run (`tours.min_departure_pax`; `tours.min_pax` is the
 * per-booking minimum the holds enforce), and why a departure was cancelled.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`create table incidents (
    id uuid primary key default gen_random_uuid(),
    kind varchar(16) not null,
    supplier varchar(64),
    lat numeric(9, 6),
    lng numeric(9, 6),
    radius_km numeric(8, 2),
    from_at timestamptz not null,
    to_at timestamptz not null,
    message text,
    status varchar(16) not null default 'open',
    reported_by uuid references users(id),
    created_at timestamptz not null default now(),
    constraint incidents_kind check (kind in ('supplier', 'crisis')),
    constraint incidents_status check (status in ('open', 'closed')),
    constraint incidents_window check (to_at > from_at),
    constraint incidents_supplier check (kind <> 'supplier' or supplier is not null),
    constraint incidents_place check (kind <> 'crisis' or (lat between -90 and 90 and lng between -180 and 180 and radius_km > 0))
  )`);
  await knex.raw('create index incidents_window on incidents (kind, from_at, to_at)');
  await knex.raw('create index incidents_supplier on incidents (lower(supplier)) where supplier is not null');

  await knex.schema.alterTable('tours', (t) => {
    t.string('supplier', 64); // the ground operator that runs the tour
    t.integer('min_departure_pax'); // passengers a departure needs by its guarantee deadline (null: none)
  });
  await knex.raw('alter table tours add constraint tours_min_departure_pax check (min_departure_pax is null or min_departure_pax >= 1)');
  await knex.raw('create index tours_supplier on tours (lower(supplier)) where supplier is not null');
  await knex.schema.alterTable('departures', (t) => {
    t.string('supplier', 64); // overrides the tour's operator for this departure
    t.text('cancellation_reason');
    t.timestamp('cancelled_at', { useTz: true });
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('departures', (t) => {
    t.dropColumn('supplier');
    t.dropColumn('cancellation_reason');
    t.dropColumn('cancelled_at');
  });
  await knex.raw('drop index if exists tours_supplier');
  await knex.raw('alter table tours drop constraint if exists tours_min_departure_pax');
  await knex.schema.alterTable('tours', (t) => {
    t.dropColumn('supplier');
    t.dropColumn('min_departure_pax');
  });
  await knex.raw('drop table incidents');
}
