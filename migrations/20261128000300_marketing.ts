/**
 * Email marketing: contacts with per-channel consent, the suppression list, CSV imports,
 * templates, segments, campaigns with one row per recipient (the claim that makes a send
 * happen at most once), and provider events.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('contacts', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.string('email', 254).notNullable();
    t.string('first_name', 100);
    t.string('last_name', 100);
    t.string('language', 2).notNullable().defaultTo('en');
    t.specificType('country', 'char(2)');
    t.string('timezone', 64);
    t.date('birthday');
    t.uuid('customer_id').references('customers.id').unique();
    t.uuid('partner_id').references('partners.id');
    t.string('source', 16).notNullable();
    t.specificType('tags', 'text[]').notNullable().defaultTo('{}');
    t.jsonb('attributes').notNullable().defaultTo('{}');
    t.timestamps(true, true);
    t.index(['country']);
  });
  await knex.raw(`alter table contacts
    add constraint contacts_source check (source in ('customer', 'lead', 'partner', 'import', 'api')),
    add constraint contacts_language check (language in ('es', 'en')),
    add constraint contacts_email check (email ~ '^[^@[:space:]]+@[^@[:space:]]+\\.[^@[:space:]]+$')`);
  await knex.raw('create unique index contacts_email_unique on contacts (lower(email))');
  await knex.raw('create index contacts_tags on contacts using gin (tags)');
  await knex.raw('create index contacts_created_at_id on contacts (created_at desc, id desc)'); // the contacts list's cursor order

  await knex.schema.createTable('contact_consents', (t) => {
    t.uuid('contact_id').notNullable().references('contacts.id').onDelete('CASCADE');
    t.string('channel', 16).notNullable();
    t.string('status', 16).notNullable();
    t.string('source').notNullable(); // e.g. "import:<id>", "web form", "booking <reference>", "unsubscribe link"
    t.timestamp('recorded_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['contact_id', 'channel']);
  });
  await knex.raw(`alter table contact_consents
    add constraint contact_consents_channel check (channel in ('email', 'whatsapp')),
    add constraint contact_consents_status check (status in ('granted', 'withdrawn'))`);
  await knex.raw(`create index contact_consents_granted on contact_consents (channel, contact_id) where status = 'granted'`);

  await knex.schema.createTable('suppressions', (t) => {
    t.string('email', 254).primary(); // stored lower-case
    t.string('reason', 16).notNullable();
    t.string('source').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(`alter table suppressions
    add constraint suppressions_reason check (reason in ('bounce', 'complaint', 'unsubscribe', 'manual')),
    add constraint suppressions_lower check (email = lower(email))`);

  await knex.schema.createTable('contact_imports', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.string('status', 16).notNullable().defaultTo('running');
    t.integer('rows_read').notNullable().defaultTo(0);
    t.integer('created').notNullable().defaultTo(0);
    t.integer('updated').notNullable().defaultTo(0);
    t.integer('failed').notNullable().defaultTo(0);
    t.jsonb('errors').notNullable().defaultTo('[]'); // the first rows that failed, with why
    t.uuid('created_by_user_id').references('users.id');
    t.timestamp('started_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('finished_at', { useTz: true });
  });
  await knex.raw(`alter table contact_imports add constraint contact_imports_status check (status in ('running', 'completed', 'failed'))`);

  await knex.schema.createTable('email_templates', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.string('name').notNullable();
    t.string('kind', 16).notNullable();
    t.string('key', 48); // transactional templates are found by key + language
    t.string('language', 2).notNullable();
    t.string('subject').notNullable();
    t.text('mjml').notNullable();
    t.text('text').notNullable();
    t.timestamps(true, true);
  });
  await knex.raw(`alter table email_templates
    add constraint email_templates_kind check (kind in ('marketing', 'transactional')),
    add constraint email_templates_language check (language in ('es', 'en')),
    add constraint email_templates_key check ((kind = 'transactional') = (key is not null))`);
  await knex.raw('create unique index email_templates_key_language on email_templates (key, language) where key is not null');

  await knex.schema.createTable('segments', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.string('name').notNullable();
    t.jsonb('rules').notNullable();
    t.uuid('created_by_user_id').references('users.id');
    t.timestamps(true, true);
  });

  await knex.schema.createTable('campaigns', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.string('name').notNullable();
    t.string('status', 16).notNullable().defaultTo('draft');
    t.uuid('segment_id').notNullable().references('segments.id');
    t.jsonb('variants').notNullable(); // [{ name, templateId, subject? }]
    t.jsonb('ab_test'); // { metric: 'open' | 'click', testPercent, waitHours }
    t.string('provider', 16).notNullable();
    t.integer('rate_per_second').notNullable();
    t.jsonb('send_window'); // { startHour, endHour } in the recipient's timezone
    t.timestamp('scheduled_at', { useTz: true });
    t.string('winner_variant');
    t.uuid('created_by_user_id').references('users.id');
    t.timestamp('started_at', { useTz: true });
    t.timestamp('finished_at', { useTz: true });
    t.timestamps(true, true);
  });
  await knex.raw(`alter table campaigns
    add constraint campaigns_status check (status in ('draft', 'scheduled', 'sending', 'paused', 'sent', 'cancelled')),
    add constraint campaigns_rate check (rate_per_second between 1 and 100000)`);

  await knex.schema.createTable('campaign_recipients', (t) => {
    t.uuid('campaign_id').notNullable().references('campaigns.id').onDelete('CASCADE');
    t.uuid('contact_id').notNullable().references('contacts.id');
    t.string('email', 254).notNullable();
    t.string('variant', 32).notNullable();
    // pending → claimed (just before the provider call) → sent | failed | unknown (a call in flight
    // when a worker died: reconciled from the provider, never blindly resent); suppressed at resolve time.
    t.string('status', 16).notNullable().defaultTo('pending');
    t.uuid('send_id').notNullable().unique().defaultTo(knex.raw('gen_random_uuid()'));
    t.string('provider_message_id');
    t.string('error');
    t.timestamp('claimed_at', { useTz: true });
    t.timestamp('sent_at', { useTz: true });
    t.primary(['campaign_id', 'contact_id']);
  });
  await knex.raw(`alter table campaign_recipients add constraint campaign_recipients_status check (status in ('pending', 'claimed', 'sent', 'failed', 'unknown', 'suppressed'))`);
  await knex.raw(`create index campaign_recipients_pending on campaign_recipients (campaign_id, variant, contact_id) where status = 'pending'`);

  await knex.schema.createTable('email_events', (t) => {
    t.string('provider', 16).notNullable();
    t.string('event_id').notNullable();
    t.uuid('send_id');
    t.string('type', 16).notNullable();
    t.string('email', 254);
    t.string('url');
    t.timestamp('occurred_at', { useTz: true }).notNullable();
    t.primary(['provider', 'event_id']);
    t.index(['send_id', 'type']);
  });
  await knex.raw(`alter table email_events add constraint email_events_type check (type in ('delivered', 'open', 'click', 'bounce', 'dropped', 'spamreport', 'unsubscribe', 'deferred'))`);
  await knex.raw(`create index email_events_engagement on email_events (email, type, occurred_at) where type in ('open', 'click')`);

  // Automations: durable per-contact sequences (one workflow per enrollment).
  await knex.schema.createTable('automations', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.string('name').notNullable();
    t.string('trigger', 24).notNullable();
    t.jsonb('steps').notNullable(); // [{ wait: { hours } } | { send: { templateId } } | { check: { rules, otherwise: 'exit' } }]
    t.jsonb('goal'); // a segment tree: an enrollment exits as soon as its contact matches it
    t.string('status', 16).notNullable().defaultTo('active');
    t.uuid('created_by_user_id').references('users.id');
    t.timestamps(true, true);
  });
  await knex.raw(`alter table automations
    add constraint automations_trigger check (trigger in ('manual', 'contact_created', 'hold_expired', 'booking_confirmed', 'trip_completed', 'inactive', 'birthday')),
    add constraint automations_status check (status in ('active', 'paused', 'archived'))`);

  await knex.schema.createTable('automation_enrollments', (t) => {
    t.uuid('automation_id').notNullable().references('automations.id').onDelete('CASCADE');
    t.uuid('contact_id').notNullable().references('contacts.id');
    // The event that enrolled the contact (a booking id, a date...): one enrollment per contact and occasion.
    t.string('occasion', 64).notNullable().defaultTo('');
    t.string('workflow_id').notNullable().unique();
    t.integer('step').notNullable().defaultTo(0);
    t.string('status', 16).notNullable().defaultTo('running');
    t.string('exit_reason');
    t.timestamp('enrolled_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['automation_id', 'contact_id', 'occasion']);
  });
  await knex.raw(`alter table automation_enrollments add constraint automation_enrollments_status check (status in ('running', 'completed', 'exited'))`);

  await knex.schema.createTable('automation_sends', (t) => {
    t.string('workflow_id').notNullable();
    t.integer('step').notNullable();
    t.uuid('send_id').notNullable().unique().defaultTo(knex.raw('gen_random_uuid()'));
    t.string('status', 16).notNullable(); // claimed → sent | failed | unknown | suppressed
    t.string('error');
    t.timestamp('claimed_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['workflow_id', 'step']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['automation_sends', 'automation_enrollments', 'automations', 'email_events', 'campaign_recipients', 'campaigns', 'segments', 'email_templates', 'contact_imports', 'suppressions', 'contact_consents', 'contacts']) {
    await knex.schema.dropTableIfExists(table);
  }
}
