/**
 * Agents: one row per agent run (its id is the run's workflow id, `agent-<Name>-<occasion>`),
 * written by the run's activities: what it was asked, the mode it ran in, its steps, output,
 * narrative and usage. The approvals inbox takes agent actions too: an approval no longer needs a
 * booking or an amount, and names the run and the actor that asked.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`create table agent_runs (
    id text primary key,
    agent varchar(40) not null,
    occasion text not null,
    trigger varchar(16) not null default 'request',
    mode varchar(8) not null default 'core',
    status varchar(24) not null default 'running',
    input jsonb not null default '{}',
    output jsonb,
    narrative text,
    steps jsonb not null default '[]',
    usage jsonb not null default '{"inputTokens":0,"outputTokens":0,"cost":0}',
    error text,
    requested_by_user_id uuid references users(id),
    started_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    ended_at timestamptz,
    constraint agent_runs_mode check (mode in ('core', 'model')),
    constraint agent_runs_status check (status in ('running', 'waiting_approval', 'completed', 'failed')),
    constraint agent_runs_trigger check (trigger in ('request', 'schedule', 'event'))
  )`);
  await knex.raw('create index agent_runs_agent_started on agent_runs (agent, started_at desc, id desc)');
  await knex.raw('create index agent_runs_status_started on agent_runs (status, started_at desc, id desc)');

  await knex.raw('alter table approvals alter column booking_id drop not null');
  await knex.raw('alter table approvals alter column branch_id drop not null');
  await knex.raw('alter table approvals alter column amount_minor drop not null');
  await knex.raw('alter table approvals alter column currency drop not null');
  await knex.raw('alter table approvals add column agent_run_id text references agent_runs(id)');
  await knex.raw('alter table approvals add column requested_by text');
  await knex.raw('alter table approvals drop constraint approvals_kind');
  await knex.raw(`alter table approvals add constraint approvals_kind check (kind in ('refund', 'manual_refund', 'payment_review', 'agent_action'))`);
  // Money approvals keep what they always had; an agent's action names its run.
  await knex.raw(`alter table approvals add constraint approvals_subject check (
    (kind in ('refund', 'manual_refund', 'payment_review') and booking_id is not null and branch_id is not null and amount_minor is not null and currency is not null)
    or (kind = 'agent_action' and agent_run_id is not null))`);
  await knex.raw('create index approvals_status_requested on approvals (status, requested_at desc)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index approvals_status_requested');
  await knex.raw(`delete from approvals where kind in ('payment_review', 'agent_action')`);
  await knex.raw('alter table approvals drop constraint approvals_subject');
  await knex.raw('alter table approvals drop constraint approvals_kind');
  await knex.raw(`alter table approvals add constraint approvals_kind check (kind in ('refund', 'manual_refund'))`);
  await knex.raw('alter table approvals drop column requested_by');
  await knex.raw('alter table approvals drop column agent_run_id');
  await knex.raw('alter table approvals alter column currency set not null');
  await knex.raw('alter table approvals alter column amount_minor set not null');
  await knex.raw('alter table approvals alter column branch_id set not null');
  await knex.raw('alter table approvals alter column booking_id set not null');
  await knex.raw('drop table agent_runs');
}
