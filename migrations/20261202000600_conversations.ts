/**
 * Conversations with customers on any channel (web chat now, WhatsApp and email later): one row
 * per customer handle and business handle on a channel, and its messages both ways. An inbound
 * message carries what MultiChannelHub understood (language, intent, confidence, entities) and
 * where it was routed; an outbound one says who wrote it (the bot or an operator).
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`create table conversations (
    id uuid primary key default gen_random_uuid(),
    channel varchar(16) not null,
    customer_handle text not null,
    business_handle text not null default '',
    customer_id uuid references customers(id),
    language varchar(2),
    status varchar(16) not null default 'bot',
    assigned_user_id uuid references users(id),
    last_intent varchar(16),
    other_streak integer not null default 0,
    waiting_since timestamptz,
    last_message_at timestamptz not null default now(),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint conversations_channel check (channel in ('web', 'whatsapp', 'email')),
    constraint conversations_status check (status in ('bot', 'waiting_human', 'with_human', 'closed')),
    constraint conversations_language check (language in ('es', 'en')),
    constraint conversations_handle unique (channel, business_handle, customer_handle)
  )`);
  await knex.raw('create index conversations_status_waiting on conversations (status, waiting_since, id)');
  await knex.raw('create index conversations_last_message on conversations (last_message_at desc, id desc)');

  await knex.raw(`create table conversation_messages (
    id uuid primary key default gen_random_uuid(),
    conversation_id uuid not null references conversations(id) on delete cascade,
    direction varchar(3) not null,
    author varchar(10) not null,
    author_user_id uuid references users(id),
    channel_message_id text,
    text text not null,
    language varchar(2),
    intent varchar(16),
    confidence real,
    entities jsonb,
    routed_to varchar(16),
    agent_run_id text,
    reply_to_id uuid references conversation_messages(id),
    dedupe_key text unique,
    decided_at timestamptz,
    created_at timestamptz not null default now(),
    constraint conversation_messages_direction check (direction in ('in', 'out')),
    constraint conversation_messages_author check ((direction = 'in' and author = 'customer') or (direction = 'out' and author in ('bot', 'operator'))),
    constraint conversation_messages_operator check ((author = 'operator') = (author_user_id is not null)),
    constraint conversation_messages_language check (language in ('es', 'en')),
    constraint conversation_messages_intent check (intent in ('browse', 'availability', 'book', 'my_bookings', 'pay_balance', 'cancel', 'human', 'other')),
    constraint conversation_messages_routed check (routed_to in ('browse', 'availability', 'book', 'my_bookings', 'pay_balance', 'cancel', 'other', 'human')),
    constraint conversation_messages_text check (length(text) between 1 and 4096)
  )`);
  // An inbound message is stored once per channel message id (a retried delivery finds it).
  await knex.raw('create unique index conversation_messages_channel_id on conversation_messages (conversation_id, channel_message_id) where channel_message_id is not null');
  await knex.raw('create index conversation_messages_thread on conversation_messages (conversation_id, created_at, id)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop table conversation_messages');
  await knex.raw('drop table conversations');
}
