/**
 * contacts.email_sendable: email consent granted and the address not suppressed, kept true by
 * triggers on contact_consents, suppressions and contacts' email. A segment's sendable count then
 * reads one column of the rows it already scans instead of joining ~1M consents and suppressions
 * (the largest cost of a count over a million contacts). Statement-level triggers with transition
 * tables: a bulk import refreshes its contacts in one UPDATE, not one per row.
 * Sends never rely on it alone: a campaign's claim checks consent and suppression again.
 */
import type { Knex } from 'knex';

const SENDABLE = `exists (select 1 from contact_consents cc where cc.contact_id = c.id and cc.channel = 'email' and cc.status = 'granted')
  and not exists (select 1 from suppressions s where s.email = lower(c.email))`;

export async function up(knex: Knex): Promise<void> {
  await knex.raw('alter table contacts add column email_sendable boolean not null default false');
  await knex.raw(`update contacts c set email_sendable = true where ${SENDABLE}`);

  await knex.raw(`create function contacts_sendable_by_consent() returns trigger language plpgsql as $$
    begin
      update contacts c set email_sendable = (${SENDABLE})
        where c.id in (select contact_id from changed where channel = 'email')
          and c.email_sendable is distinct from (${SENDABLE});
      return null;
    end $$`);
  await knex.raw(`create function contacts_sendable_by_suppression() returns trigger language plpgsql as $$
    begin
      update contacts c set email_sendable = (${SENDABLE})
        where lower(c.email) in (select email from changed)
          and c.email_sendable is distinct from (${SENDABLE});
      return null;
    end $$`);
  for (const [table, fn] of [['contact_consents', 'contacts_sendable_by_consent'], ['suppressions', 'contacts_sendable_by_suppression']]) {
    await knex.raw(`create trigger ${table}_sendable_ins after insert on ${table} referencing new table as changed for each statement execute function ${fn}()`);
    await knex.raw(`create trigger ${table}_sendable_del after delete on ${table} referencing old table as changed for each statement execute function ${fn}()`);
    await knex.raw(`create trigger ${table}_sendable_upd_new after update on ${table} referencing new table as changed for each statement execute function ${fn}()`);
    await knex.raw(`create trigger ${table}_sendable_upd_old after update on ${table} referencing old table as changed for each statement execute function ${fn}()`);
  }
  // A contact's new address may be a suppressed one (or no longer be).
  await knex.raw(`create function contacts_sendable_by_email() returns trigger language plpgsql as $$
    begin
      new.email_sendable := exists (select 1 from contact_consents cc where cc.contact_id = new.id and cc.channel = 'email' and cc.status = 'granted')
        and not exists (select 1 from suppressions s where s.email = lower(new.email));
      return new;
    end $$`);
  await knex.raw(`create trigger contacts_sendable_email before update of email on contacts for each row
    when (old.email is distinct from new.email) execute function contacts_sendable_by_email()`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop trigger contacts_sendable_email on contacts');
  for (const table of ['contact_consents', 'suppressions']) {
    for (const t of ['ins', 'del', 'upd_new', 'upd_old']) await knex.raw(`drop trigger ${table}_sendable_${t} on ${table}`);
  }
  await knex.raw('drop function contacts_sendable_by_email()');
  await knex.raw('drop function contacts_sendable_by_suppression()');
  await knex.raw('drop function contacts_sendable_by_consent()');
  await knex.raw('alter table contacts drop column email_sendable');
}
