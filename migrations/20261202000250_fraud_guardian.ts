/**
 * FraudGuardian: every payment attempt checked before authorization is one row of
 * payment_attempts (who, which card, from where, how much, the score and the decision), so the
 * velocity of attempts per customer, card and address is a count over an index; fraud_rules holds
 * a branch's overrides of the deployment's rules (FRAUD_RULES), read at each check.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`create table payment_attempts (
    id uuid primary key default gen_random_uuid(),
    booking_id uuid not null references bookings(id),
    attempt_key varchar(32) not null,
    customer_id uuid references customers(id),
    provider varchar(16) not null,
    card_key text not null,
    card_country char(2),
    client_ip inet,
    ip_country char(2),
    phone_country char(2),
    amount_minor bigint not null,
    currency char(3) not null,
    fraud_score integer,
    fraud_decision varchar(8) not null,
    signals jsonb not null default '[]',
    agent_run_id text references agent_runs(id),
    approval_id uuid references approvals(id),
    created_at timestamptz not null default now(),
    constraint payment_attempts_once unique (booking_id, attempt_key),
    constraint payment_attempts_decision check (fraud_decision in ('pass', 'review', 'block')),
    -- null: the check could not run (the attempt went to a person)
    constraint payment_attempts_score check (fraud_score between 0 and 100)
  )`);
  await knex.raw('create index payment_attempts_customer on payment_attempts (customer_id, created_at)');
  await knex.raw('create index payment_attempts_card on payment_attempts (card_key, created_at)');
  await knex.raw('create index payment_attempts_ip on payment_attempts (client_ip, created_at)');
  await knex.raw(`create table fraud_rules (
    branch_id uuid primary key references branches(id),
    rules jsonb not null default '{}',
    updated_at timestamptz not null default now()
  )`);
  // One pending review per booking, as for refunds.
  await knex.raw(`create unique index approvals_one_pending_review on approvals (booking_id) where status = 'pending' and kind = 'payment_review'`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index approvals_one_pending_review');
  await knex.raw('drop table fraud_rules');
  await knex.raw('drop table payment_attempts');
}
