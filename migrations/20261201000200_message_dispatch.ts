/**
 * Booking messages are delivered by the message dispatcher (workflows/message-dispatch.ts), no
 * longer inside the booking workflow's activities: each queued row now says when it may be tried
 * (next_attempt_at, pushed back with a backoff while the provider is down or throttling), how
 * often it was, since when it is in flight (claimed_at: a claim older than the dispatch
 * activity's timeout was in flight when its worker died → unknown, never resent), why it failed
 * or waits (error), and the provider's answer. A partial index keeps the dispatcher's every-run
 * lookup of due email rows small however many messages were ever sent.
 * Campaigns keep the rate they ran at, for their view after the workflow is gone.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('outbox_messages', (t) => {
    t.timestamp('next_attempt_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.integer('attempts').notNullable().defaultTo(0);
    t.timestamp('claimed_at', { useTz: true });
    t.timestamp('sent_at', { useTz: true });
    t.string('provider_message_id');
    t.string('error', 500);
  });
  await knex.raw(`alter table outbox_messages add constraint outbox_status check (status in ('queued', 'sending', 'sent', 'failed', 'unknown'))`);
  await knex.raw(`create index outbox_messages_due on outbox_messages (next_attempt_at, id) where status = 'queued' and channel = 'email'`);
  await knex.raw(`create index outbox_messages_sending on outbox_messages (claimed_at) where status = 'sending'`);
  await knex.schema.alterTable('campaigns', (t) => {
    t.integer('sent_rate_per_second');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('campaigns', (t) => {
    t.dropColumn('sent_rate_per_second');
  });
  await knex.raw('drop index outbox_messages_sending');
  await knex.raw('drop index outbox_messages_due');
  await knex.raw('alter table outbox_messages drop constraint outbox_status');
  await knex.schema.alterTable('outbox_messages', (t) => {
    for (const c of ['next_attempt_at', 'attempts', 'claimed_at', 'sent_at', 'provider_message_id', 'error']) t.dropColumn(c);
  });
}
