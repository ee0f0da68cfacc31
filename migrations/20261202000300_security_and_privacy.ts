/**
 * CyberSentinel and DataPrivacy:
 * - security_events: what the API saw (failed logins, refresh-token reuse, 401/403 answers), by
 *   address and account, written in batches off the request path.
 * - security_blocks: temporary blocks of an address or an account that the API enforces; every
 *   change NOTIFYs `security_blocks` so each API instance reloads its in-process copy.
 * - security_alerts: the admins' security inbox (one row per finding run, not a message to each admin).
 * - privacy_requests: data-subject requests (export, erasure) and what came of them.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`create table security_events (
    id bigserial primary key,
    kind varchar(24) not null check (kind in ('login_failed', 'refresh_reused', 'http_401', 'http_403')),
    ip varchar(64) not null,
    account varchar(254),
    path varchar(200),
    at timestamptz not null default now()
  )`);
  await knex.raw('create index security_events_at on security_events (at)');
  await knex.raw(`create table security_blocks (
    id uuid primary key default gen_random_uuid(),
    scope varchar(8) not null check (scope in ('ip', 'account')),
    value varchar(254) not null,
    user_id uuid references users(id) on delete set null,
    reason text not null,
    expires_at timestamptz not null,
    created_by varchar(80) not null,
    created_at timestamptz not null default now(),
    lifted_at timestamptz,
    lifted_by_user_id uuid references users(id),
    step_key text unique
  )`);
  await knex.raw('create index security_blocks_active on security_blocks (expires_at) where lifted_at is null');
  await knex.raw(`create function notify_security_blocks() returns trigger language plpgsql as $$
    begin perform pg_notify('security_blocks', ''); return null; end $$`);
  await knex.raw(`create trigger security_blocks_changed after insert or update or delete on security_blocks
    for each statement execute function notify_security_blocks()`);
  await knex.raw(`create table security_alerts (
    id uuid primary key default gen_random_uuid(),
    severity varchar(8) not null check (severity in ('info', 'warning', 'critical')),
    summary text not null,
    findings jsonb not null default '[]',
    agent_run_id text,
    step_key text unique,
    created_at timestamptz not null default now(),
    acknowledged_at timestamptz,
    acknowledged_by_user_id uuid references users(id)
  )`);
  await knex.raw(`create table privacy_requests (
    id uuid primary key default gen_random_uuid(),
    email varchar(254) not null,
    kind varchar(8) not null check (kind in ('export', 'erasure')),
    requested_by_user_id uuid references users(id),
    agent_run_id text,
    export jsonb,
    result jsonb,
    completed_at timestamptz,
    created_at timestamptz not null default now()
  )`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop table privacy_requests');
  await knex.raw('drop table security_alerts');
  await knex.raw('drop trigger security_blocks_changed on security_blocks');
  await knex.raw('drop function notify_security_blocks()');
  await knex.raw('drop table security_blocks');
  await knex.raw('drop table security_events');
}
