/**
 * The booking lifecycle's transactional email templates (es, en): reference data the booking
 * workflow needs in every deployment. Existing key + language rows are left as staff edited them.
 */
import type { Knex } from 'knex';
import { seedTransactionalTemplates, TRANSACTIONAL_KEYS } from '../models/templates';

export async function up(knex: Knex): Promise<void> {
  await seedTransactionalTemplates(knex);
}

export async function down(knex: Knex): Promise<void> {
  await knex('email_templates').where({ kind: 'transactional' }).whereIn('key', [...TRANSACTIONAL_KEYS]).delete();
}
