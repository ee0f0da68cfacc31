/**
 * Production hardening:
 * - audit_log becomes a hash chain: every row stores sha256(its content + the previous row's
 *   hash). A trigger computes it inside the inserting transaction, holding the chain head's row
 *   lock, so concurrent writers form one chain in id order; rows cannot be updated or deleted.
 * - accountants belong to a branch (as operators do).
 * - consent keeps its history: contact_consent_history is append-only (updates and deletes are
 *   refused) and gets a row for every decision written to contact_consents, by statement-level
 *   triggers in the same statement, so no path (API, import, sync, unsubscribe) can change
 *   consent without leaving its trace. contact_consents stays the current decision per channel
 *   (what sends and contacts.email_sendable read).
 * - contact_resubscribe_requests: the last confirmation email sent per contact, so a link
 *   cannot be used to flood an inbox with them.
 */
import type { Knex } from 'knex';

// The canonical text of a row: every column, in a fixed order, NULL spelt apart from ''.
const ROW_HASH = `create function audit_log_row_hash(r audit_log) returns text language sql immutable as $$
  select encode(sha256(convert_to(concat_ws(chr(31),
    r.id::text, coalesce(r.actor_user_id::text, chr(0x2205)), r.action, r.entity_type, coalesce(r.entity_id, chr(0x2205)),
    r.data::text, coalesce(r.request_id, chr(0x2205)), coalesce(r.ip, chr(0x2205)),
    to_char(r.at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), r.prev_hash), 'UTF8')), 'hex')
$$`;

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`alter table audit_log add column prev_hash text, add column hash text`);
  await knex.raw(ROW_HASH);
  await knex.raw(`create table audit_chain_head (one boolean primary key default true check (one), last_id bigint, last_hash text not null)`);
  // Rows written before the chain existed are chained now, in id order, from the genesis ''.
  await knex.raw(`do $$
    declare r audit_log; prev text := '';
    begin
      for r in select * from audit_log order by id loop
        r.prev_hash := prev;
        prev := audit_log_row_hash(r);
        update audit_log set prev_hash = r.prev_hash, hash = prev where id = r.id;
      end loop;
      insert into audit_chain_head (last_id, last_hash) values ((select max(id) from audit_log), prev);
    end $$`);
  await knex.raw(`alter table audit_log alter column prev_hash set not null, alter column hash set not null`);
  // The head row's lock orders writers; the id is taken under it, so id order is chain order.
  await knex.raw(`create function audit_log_chain() returns trigger language plpgsql as $$
    declare prev text;
    begin
      select last_hash into prev from audit_chain_head for update;
      new.id := nextval(pg_get_serial_sequence('audit_log', 'id'));
      new.prev_hash := prev;
      new.hash := audit_log_row_hash(new);
      update audit_chain_head set last_id = new.id, last_hash = new.hash;
      return new;
    end $$`);
  await knex.raw(`create trigger audit_log_chain before insert on audit_log for each row execute function audit_log_chain()`);
  await knex.raw(`create function audit_log_append_only() returns trigger language plpgsql as $$
    begin
      raise exception 'audit_log is append-only (% refused)', tg_op using errcode = 'insufficient_privilege';
    end $$`);
  await knex.raw(`create trigger audit_log_append_only before update or delete on audit_log for each row execute function audit_log_append_only()`);
  await knex.raw(`create trigger audit_log_no_truncate before truncate on audit_log for each statement execute function audit_log_append_only()`);
  await knex.raw(`create trigger audit_chain_head_no_delete before delete or truncate on audit_chain_head for each statement execute function audit_log_append_only()`);

  await knex.raw(`create table contact_consent_history (
    id bigserial primary key,
    contact_id uuid not null, -- no foreign key: deleting a contact keeps the proof of what they agreed to
    channel varchar(16) not null,
    status varchar(16) not null,
    source varchar(255) not null,
    recorded_at timestamptz not null,
    written_at timestamptz not null default now()
  )`);
  await knex.raw('create index contact_consent_history_contact on contact_consent_history (contact_id, id)');
  await knex.raw(`insert into contact_consent_history (contact_id, channel, status, source, recorded_at)
    select contact_id, channel, status, source, recorded_at from contact_consents order by recorded_at`);
  await knex.raw(`create function contact_consents_to_history() returns trigger language plpgsql as $$
    begin
      insert into contact_consent_history (contact_id, channel, status, source, recorded_at)
        select contact_id, channel, status, source, recorded_at from changed;
      return null;
    end $$`);
  await knex.raw('create trigger contact_consents_history_ins after insert on contact_consents referencing new table as changed for each statement execute function contact_consents_to_history()');
  await knex.raw('create trigger contact_consents_history_upd after update on contact_consents referencing new table as changed for each statement execute function contact_consents_to_history()');
  await knex.raw(`create function contact_consent_history_append_only() returns trigger language plpgsql as $$
    begin
      raise exception 'contact_consent_history is append-only (% refused)', tg_op using errcode = 'insufficient_privilege';
    end $$`);
  await knex.raw('create trigger contact_consent_history_append_only before update or delete on contact_consent_history for each row execute function contact_consent_history_append_only()');

  await knex.raw(`create table contact_resubscribe_requests (
    contact_id uuid primary key references contacts (id) on delete cascade,
    channels text[] not null,
    requested_at timestamptz not null default now()
  )`);

  // NOT VALID: an accountant created before this keeps working (and sees no branch's money)
  // until an admin gives them a branch; every new or changed accountant must have one.
  await knex.raw(`alter table users add constraint users_accountant_branch check (role <> 'accountant' or branch_id is not null) not valid`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('alter table users drop constraint users_accountant_branch');
  await knex.raw('drop table contact_resubscribe_requests');
  await knex.raw('drop trigger contact_consents_history_upd on contact_consents');
  await knex.raw('drop trigger contact_consents_history_ins on contact_consents');
  await knex.raw('drop function contact_consents_to_history()');
  await knex.raw('drop table contact_consent_history');
  await knex.raw('drop function contact_consent_history_append_only()');
  await knex.raw('drop trigger audit_chain_head_no_delete on audit_chain_head');
  await knex.raw('drop trigger audit_log_no_truncate on audit_log');
  await knex.raw('drop trigger audit_log_append_only on audit_log');
  await knex.raw('drop trigger audit_log_chain on audit_log');
  await knex.raw('drop function audit_log_append_only()');
  await knex.raw('drop function audit_log_chain()');
  await knex.raw('drop table audit_chain_head');
  await knex.raw('drop function audit_log_row_hash(audit_log)');
  await knex.raw('alter table audit_log drop column prev_hash, drop column hash');
}
