/** Campaign fixtures: tagged contacts with consent, a marketing template, a segment. */
import crypto from 'node:crypto';
import { stack } from './stack';

export const MARKETING_MJML = `<mjml><mj-body><mj-section><mj-column>
<mj-text>Hola {{first_name}}, new tours are out.</mj-text>
<mj-text><a href="{{unsubscribe_url}}">Unsubscribe</a></mj-text>
</mj-column></mj-section></mj-body></mjml>`;

export async function audience(n: number, options: { suppressed?: number; withdrawn?: number } = {}) {
  const { knex } = stack();
  const tag = `cmp${crypto.randomBytes(4).toString('hex')}`;
  const contacts = await knex('contacts').insert(Array.from({ length: n }, (_, i) => ({
    email: `${tag}.${i}@example.com`, first_name: `Guest${i}`, language: i % 2 ? 'en' : 'es', source: 'import', tags: [tag],
  }))).returning(['id', 'email']);
  const withdrawn = new Set(contacts.slice(0, options.withdrawn ?? 0).map((c) => c.id));
  await knex('contact_consents').insert(contacts.map((c) => ({ contact_id: c.id, channel: 'email', status: withdrawn.has(c.id) ? 'withdrawn' : 'granted', source: 'test' })));
  const suppressed = contacts.slice(contacts.length - (options.suppressed ?? 0));
  if (suppressed.length) await knex('suppressions').insert(suppressed.map((c) => ({ email: c.email, reason: 'bounce', source: 'test' })));
  const [segment] = await knex('segments').insert({ name: tag, rules: JSON.stringify({ field: 'tag', op: 'has', value: tag }) }).returning('id');
  return { tag, contacts, segmentId: segment.id as string };
}

export async function marketingTemplate(subject = 'New tours') {
  const [t] = await stack().knex('email_templates').insert({ name: subject, kind: 'marketing', language: 'es', subject, mjml: MARKETING_MJML, text: 'Hola {{first_name}}. Baja: {{unsubscribe_url}}' }).returning('id');
  return t.id as string;
}
