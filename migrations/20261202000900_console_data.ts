/**
 * What the operator console reads and writes that the platform did not have:
 * - departures may be `closed` by an operator (sales stopped; a closed departure takes no holds,
 *   as every other non-open status); the status it had is kept so reopening restores it.
 * - departure_checkins: one row per passenger of a departure (checked_in / no_show / pending),
 *   who set it and when; a trigger tells the console's event stream (NOTIFY console_events).
 * - search indexes for the booking desk: reference prefix, and contact name/email by trigram over
 *   a lower-cased, accent-folded text (pg_trgm and unaccent are trusted contrib extensions).
 * - the calendar's and the dashboard's reads by date over every status.
 */
import type { Knex } from 'knex';

const OLD = `'scheduled', 'guaranteed', 'cancelled', 'departed', 'completed'`;

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`alter table departures
    drop constraint departures_status, add constraint departures_status check (status in (${OLD}, 'closed')),
    add column status_before_closed varchar(16),
    add column closed_at timestamptz,
    add column closed_by_user_id uuid references users(id)`);
  await knex.raw('create index departures_by_date on departures (starts_at, id)');

  await knex.raw(`create table departure_checkins (
    departure_id uuid not null references departures(id),
    passenger_id uuid not null references passengers(id) on delete cascade,
    booking_id uuid not null references bookings(id) on delete cascade,
    state varchar(16) not null,
    revision integer not null default 1,
    updated_by_user_id uuid references users(id),
    updated_at timestamptz not null default now(),
    primary key (departure_id, passenger_id),
    constraint departure_checkins_state check (state in ('pending', 'checked_in', 'no_show'))
  )`);
  await knex.raw('create index departure_checkins_booking on departure_checkins (booking_id)');
  await knex.raw(`create function departure_checkins_notify() returns trigger language plpgsql as $$
    begin
      perform pg_notify('console_events', json_build_object('kind', 'checkin', 'id', new.passenger_id, 'departureId', new.departure_id,
        'bookingId', new.booking_id, 'branchId', (select branch_id from bookings where id = new.booking_id), 'state', new.state)::text);
      return new;
    end $$`);
  await knex.raw(`create trigger departure_checkins_notify after insert or update on departure_checkins
    for each row execute function departure_checkins_notify()`);

  await knex.raw('create extension if not exists pg_trgm');
  await knex.raw('create extension if not exists unaccent');
  // unaccent() is only STABLE (its dictionary could change); pinned to its dictionary it may index.
  await knex.raw(`create function console_fold(text) returns text language sql immutable parallel safe strict
    as $$ select lower(public.unaccent('public.unaccent'::regdictionary, $1)) $$`);
  await knex.raw(`create index bookings_contact_search on bookings
    using gin (console_fold(coalesce(contact->>'name', '') || ' ' || coalesce(contact->>'email', '')) gin_trgm_ops)`);
  await knex.raw('create index bookings_reference_prefix on bookings (reference text_pattern_ops)');
  // The dashboard's revenue: captured payments and refunds by day.
  await knex.raw('create index payments_created on payments (created_at)');
  await knex.raw('create index refunds_created on refunds (created_at)');
  await knex.raw(`create index bookings_hold_expiry on bookings (hold_expires_at) where status = 'held'`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index bookings_hold_expiry');
  await knex.raw('drop index refunds_created');
  await knex.raw('drop index payments_created');
  await knex.raw('drop index bookings_reference_prefix');
  await knex.raw('drop index bookings_contact_search');
  await knex.raw('drop function console_fold(text)');
  await knex.raw('drop table departure_checkins');
  await knex.raw('drop function departure_checkins_notify()');
  await knex.raw('drop index departures_by_date');
  await knex.raw(`update departures set status = coalesce(status_before_closed, 'scheduled') where status = 'closed'`);
  await knex.raw(`alter table departures drop column closed_by_user_id, drop column closed_at, drop column status_before_closed,
    drop constraint departures_status, add constraint departures_status check (status in (${OLD}))`);
}
