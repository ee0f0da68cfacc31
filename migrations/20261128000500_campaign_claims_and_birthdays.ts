/**
 * In-flight claims of a campaign, by age: the stale-claim sweep and the remaining count of every
 * batch read these instead of scanning all of the campaign's recipients.
 * Birthdays by month and day: the birthday automation's lookup (every minute) reads a few days' worth.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`create index campaign_recipients_claimed on campaign_recipients (campaign_id, claimed_at) where status = 'claimed'`);
  await knex.raw(`create index contacts_birthday_month_day on contacts ((extract(month from birthday) * 100 + extract(day from birthday))) where birthday is not null`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index contacts_birthday_month_day');
  await knex.raw('drop index campaign_recipients_claimed');
}
