/**
 * WhatsApp from other workflows, and staff commands:
 * - outbox_messages: the dispatcher now delivers WhatsApp rows too; a partial index keeps its
 *   lookup of due WhatsApp rows small (as outbox_messages_due does for email), and `via_template`
 *   says which approved template a row went as (outside the 24-hour window), null for free text.
 * - conversation_messages: a staff member's message (an allowlisted number) is understood as a
 *   staff command, not by MultiChannelHub: intent and route `staff`.
 */
import type { Knex } from 'knex';

const HUB = `'browse', 'availability', 'book', 'my_bookings', 'pay_balance', 'cancel', 'human', 'other'`;

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`create index outbox_messages_due_whatsapp on outbox_messages (next_attempt_at, id) where status = 'queued' and channel = 'whatsapp'`);
  await knex.raw('alter table outbox_messages add column via_template varchar(64)');
  await knex.raw(`alter table conversation_messages
    drop constraint conversation_messages_intent, add constraint conversation_messages_intent check (intent in (${HUB}, 'staff')),
    drop constraint conversation_messages_routed, add constraint conversation_messages_routed check (routed_to in (${HUB}, 'staff'))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`alter table conversation_messages
    drop constraint conversation_messages_intent, add constraint conversation_messages_intent check (intent in (${HUB})),
    drop constraint conversation_messages_routed, add constraint conversation_messages_routed check (routed_to in (${HUB}))`);
  await knex.raw('alter table outbox_messages drop column via_template');
  await knex.raw('drop index outbox_messages_due_whatsapp');
}
