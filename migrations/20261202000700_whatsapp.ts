/**
 * WhatsApp: conversations get their flow state, their 24-hour service window and their handoff
 * history; messages both ways get a kind (text, interactive, template), a payload, and delivery
 * state (claimed only when ready to hand over; an ambiguous hand-over is `unknown`, never resent;
 * status events from the provider move it forward only). Webhook deliveries are stored before
 * they are answered; approved templates live here with their language and parameters; staff
 * numbers are an allowlist by user. The simulator's outbound messages are kept for its chat.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`alter table conversations
    add column flow jsonb,
    add column customer_name text,
    add column window_expires_at timestamptz,
    add column closed_at timestamptz,
    add column resolved_at timestamptz,
    add column time_zone text`);

  await knex.raw(`alter table conversation_messages
    add column kind varchar(12) not null default 'text',
    add column payload jsonb,
    add column delivery_status varchar(10),
    add column delivery_attempts integer not null default 0,
    add column claimed_at timestamptz,
    add column provider_message_id text,
    add column delivery_error text,
    add column sent_at timestamptz,
    add column delivered_at timestamptz,
    add column read_at timestamptz,
    add column via_template text,
    add constraint conversation_messages_kind check (kind in ('text', 'interactive', 'template', 'unsupported')),
    add constraint conversation_messages_delivery check (delivery_status in ('pending', 'claimed', 'sent', 'delivered', 'read', 'failed', 'unknown'))`);
  // An interactive choice arrives as text (its title) and the id of the row or button chosen.
  await knex.raw('create unique index conversation_messages_provider_id on conversation_messages (provider_message_id) where provider_message_id is not null');
  await knex.raw(`create index conversation_messages_undelivered on conversation_messages (delivery_status, created_at) where delivery_status in ('pending', 'claimed')`);

  // Who did what to a conversation: waiting for a person, taken over, handed back (resolved), closed, reopened.
  await knex.raw(`create table conversation_events (
    id bigserial primary key,
    conversation_id uuid not null references conversations(id) on delete cascade,
    type varchar(20) not null,
    user_id uuid references users(id),
    note text,
    created_at timestamptz not null default now(),
    constraint conversation_events_type check (type in ('waiting_human', 'taken_over', 'handed_back', 'closed', 'reopened', 'window_closed'))
  )`);
  await knex.raw('create index conversation_events_conversation on conversation_events (conversation_id, id)');

  // The bookings a conversation made or acted on.
  await knex.raw(`create table conversation_bookings (
    conversation_id uuid not null references conversations(id) on delete cascade,
    booking_id uuid not null references bookings(id),
    role varchar(10) not null,
    created_at timestamptz not null default now(),
    primary key (conversation_id, booking_id, role),
    constraint conversation_bookings_role check (role in ('booked', 'paid', 'cancelled', 'viewed'))
  )`);

  // Webhook deliveries, stored before the 200: processed afterwards, and again by housekeeping if the process died in between.
  await knex.raw(`create table whatsapp_events (
    id bigserial primary key,
    body_sha256 char(64) not null unique,
    body jsonb not null,
    received_at timestamptz not null default now(),
    processed_at timestamptz,
    error text
  )`);
  await knex.raw('create index whatsapp_events_unprocessed on whatsapp_events (received_at) where processed_at is null');

  // Approved message templates (Meta approves them; we keep the name, language and parameters we send).
  await knex.raw(`create table whatsapp_templates (
    name varchar(64) not null,
    language varchar(8) not null,
    category varchar(16) not null default 'utility',
    body text not null,
    parameters jsonb not null default '[]',
    status varchar(10) not null default 'approved',
    updated_at timestamptz not null default now(),
    primary key (name, language),
    constraint whatsapp_templates_status check (status in ('approved', 'pending', 'rejected', 'paused')),
    constraint whatsapp_templates_category check (category in ('utility', 'marketing', 'authentication'))
  )`);

  // The platform's own templates, in both languages; an operator submits them to Meta under these names.
  const templates: Array<[string, string, string, string[]]> = [
    ['booking_confirmation', 'es', 'Hola {{1}}, tu reserva {{2}} para {{3}} el {{4}} está confirmada. ¡Gracias por viajar con Spirit Tours!', ['name', 'reference', 'tour', 'date']],
    ['booking_confirmation', 'en', 'Hi {{1}}, your booking {{2}} for {{3}} on {{4}} is confirmed. Thank you for travelling with Spirit Tours!', ['name', 'reference', 'tour', 'date']],
    ['balance_reminder', 'es', 'Hola {{1}}, el saldo de tu reserva {{2}} ({{3}}) vence el {{4}}. Puedes pagarlo aquí: {{5}}', ['name', 'reference', 'amount', 'dueDate', 'link']],
    ['balance_reminder', 'en', 'Hi {{1}}, the balance of your booking {{2}} ({{3}}) is due on {{4}}. You can pay it here: {{5}}', ['name', 'reference', 'amount', 'dueDate', 'link']],
    ['pre_trip_reminder', 'es', 'Hola {{1}}, tu tour {{2}} sale el {{3}}. Punto de encuentro: {{4}}. ¡Buen viaje!', ['name', 'tour', 'date', 'meetingPoint']],
    ['pre_trip_reminder', 'en', 'Hi {{1}}, your tour {{2}} leaves on {{3}}. Meeting point: {{4}}. Enjoy your trip!', ['name', 'tour', 'date', 'meetingPoint']],
    ['crisis_notice', 'es', 'Aviso importante de Spirit Tours sobre tu reserva {{1}}: {{2}} Confirma que lo has recibido: {{3}}', ['reference', 'notice', 'ackLink']],
    ['crisis_notice', 'en', 'Important notice from Spirit Tours about your booking {{1}}: {{2}} Please confirm you received it: {{3}}', ['reference', 'notice', 'ackLink']],
    ['operator_reply', 'es', 'Hola {{1}}, tenemos una respuesta a tu consulta: {{2}}', ['name', 'text']],
    ['operator_reply', 'en', 'Hi {{1}}, we have an answer to your question: {{2}}', ['name', 'text']],
  ];
  await knex('whatsapp_templates').insert(templates.map(([name, language, body, parameters]) => ({ name, language, body, parameters: JSON.stringify(parameters) })));

  // Staff who may ask for numbers from their phone.
  await knex.raw(`create table staff_phones (
    phone varchar(16) primary key,
    user_id uuid not null references users(id) on delete cascade,
    created_at timestamptz not null default now(),
    constraint staff_phones_e164 check (phone ~ '^\\+[1-9][0-9]{6,14}$')
  )`);

  // The local simulator: what the platform sent to each simulated customer.
  await knex.raw(`create table whatsapp_simulator_messages (
    id bigserial primary key,
    wamid text not null unique,
    business_number text not null,
    to_number text not null,
    message jsonb not null,
    -- How often this message was handed over (a resend of the same key would count 2: tests assert 1).
    sends integer not null default 1,
    created_at timestamptz not null default now()
  )`);
  await knex.raw('create index whatsapp_simulator_messages_to on whatsapp_simulator_messages (to_number, id)');

  // The whatsapp-web.js session's state, written by the worker that holds it, read by the API.
  await knex.raw(`create table whatsapp_sessions (
    id varchar(32) primary key,
    state varchar(16) not null,
    qr text,
    detail text,
    updated_at timestamptz not null default now()
  )`);
}

export async function down(knex: Knex): Promise<void> {
  for (const t of ['whatsapp_sessions', 'whatsapp_simulator_messages', 'staff_phones', 'whatsapp_templates', 'whatsapp_events', 'conversation_bookings', 'conversation_events']) await knex.raw(`drop table ${t}`);
  await knex.raw(`alter table conversation_messages drop constraint conversation_messages_kind, drop constraint conversation_messages_delivery,
    drop column kind, drop column payload, drop column delivery_status, drop column delivery_attempts, drop column claimed_at, drop column provider_message_id,
    drop column delivery_error, drop column sent_at, drop column delivered_at, drop column read_at, drop column via_template`);
  await knex.raw('alter table conversations drop column flow, drop column customer_name, drop column window_expires_at, drop column closed_at, drop column resolved_at, drop column time_zone');
}
