/**
 * Demo marketing data for `npm start` (never the test stack, never production): ~80 contacts
 * (es/en, tags, sources, countries) with consent written as the platform writes it
 * (recordConsent / suppress from models/contacts, so contact_consent_history and
 * contacts.email_sendable follow through the database's triggers), one marketing template per
 * language checked with checkTemplate, and one saved segment (Spanish newsletter readers).
 *
 * Idempotent: contacts have fixed addresses on example.com / example.org and are inserted with
 * "on conflict do nothing"; consent is recorded only for contacts this run created (an operator's
 * later decision is never overwritten); templates and the segment are found by name first.
 */
import type { Knex } from 'knex';
import { recordConsent, suppress } from '../models/contacts';
import { checkTemplate, UNSUBSCRIBE_VARIABLE } from '../models/templates';
import { checkSegmentSize, segmentNodeSchema, type SegmentNode } from '../models/segments';

export interface MarketingSeedReport { contacts: number; templates: number; segments: number }

const CONSENT_SOURCE = 'demo seed (web form)';

const ES_FIRST = ['Lucía', 'Mateo', 'Sofía', 'Hugo', 'Martina', 'Pablo', 'Valeria', 'Diego', 'Camila', 'Javier',
  'Paula', 'Alejandro', 'Daniela', 'Sergio', 'Carmen', 'Andrés', 'Elena', 'Miguel', 'Ximena', 'Raúl',
  'Lorena', 'Fernando', 'Isabel', 'Rodrigo', 'Natalia', 'Álvaro', 'Renata', 'Tomás', 'Marina', 'Emilio',
  'Guadalupe', 'Santiago', 'Inés', 'Joaquín', 'Beatriz', 'Ricardo', 'Alba', 'Gonzalo', 'Regina', 'Íñigo'];
const ES_LAST = ['García', 'Martínez', 'López', 'Sánchez', 'Pérez', 'Gómez', 'Hernández', 'Díaz', 'Moreno', 'Ruiz',
  'Jiménez', 'Álvarez', 'Romero', 'Navarro', 'Torres', 'Domínguez', 'Vázquez', 'Ramos', 'Castillo', 'Ortega'];
const EN_FIRST = ['Emma', 'Liam', 'Olivia', 'Noah', 'Ava', 'James', 'Mia', 'Oliver', 'Harper', 'Ethan',
  'Grace', 'Lucas', 'Chloe', 'Henry', 'Ella', 'Jack', 'Amelia', 'Samuel', 'Lily', 'Daniel',
  'Zoe', 'Owen', 'Hannah', 'Leo', 'Nora', 'Caleb', 'Ruby', 'Isaac', 'Alice', 'Finn',
  'Sophie', 'Ryan', 'Claire', 'Nathan', 'Megan', 'Adam', 'Laura', 'Connor', 'Abigail', 'Wyatt'];
const EN_LAST = ['Smith', 'Johnson', 'Brown', 'Taylor', 'Wilson', 'Davies', 'Evans', 'Thomas', 'Walker', 'Wright',
  'Robinson', 'Thompson', 'White', 'Hughes', 'Edwards', 'Green', 'Hall', 'Wood', 'Harris', 'Clarke'];

const ES_PLACES = [
  { country: 'ES', timezone: 'Europe/Madrid', tag: 'spain' },
  { country: 'MX', timezone: 'America/Mexico_City', tag: 'mexico' },
  { country: 'ES', timezone: 'Europe/Madrid', tag: 'spain' },
  { country: 'AR', timezone: 'America/Argentina/Buenos_Aires', tag: null },
  { country: 'MX', timezone: 'America/Cancun', tag: 'mexico' },
  { country: 'CO', timezone: 'America/Bogota', tag: null },
];
const EN_PLACES = [
  { country: 'US', timezone: 'America/New_York', tag: null },
  { country: 'GB', timezone: 'Europe/London', tag: null },
  { country: 'US', timezone: 'America/Los_Angeles', tag: null },
  { country: 'CA', timezone: 'America/Toronto', tag: null },
  { country: 'AU', timezone: 'Australia/Sydney', tag: null },
];
const SOURCES = ['lead', 'import', 'api', 'lead', 'import'] as const;

/** Strips accents for the address: "Íñigo Domínguez" → "inigo.dominguez". */
const slug = (s: string) => s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/[^a-z]/g, '');

export interface DemoContact {
  email: string; first_name: string; last_name: string; language: 'es' | 'en'; country: string; timezone: string;
  birthday: string | null; tags: string[]; source: (typeof SOURCES)[number];
  email_consent: 'granted' | 'withdrawn'; whatsapp_consent: boolean; bounced: boolean;
}

/** The 80 demo contacts, always the same (fixed addresses: the natural key of the seed). */
export function demoContacts(): DemoContact[] {
  const out: DemoContact[] = [];
  for (let i = 0; i < 80; i++) {
    const es = i % 2 === 0;
    const n = Math.floor(i / 2);
    const first = es ? ES_FIRST[n] : EN_FIRST[n];
    const last = es ? ES_LAST[(n * 7) % ES_LAST.length] : EN_LAST[(n * 7) % EN_LAST.length];
    const place = es ? ES_PLACES[n % ES_PLACES.length] : EN_PLACES[n % EN_PLACES.length];
    const tags: string[] = [];
    if (i % 5 !== 4) tags.push('newsletter');
    if (i % 9 === 0) tags.push('vip');
    if (place.tag) tags.push(place.tag);
    out.push({
      email: `${slug(first)}.${slug(last)}@${i % 3 === 2 ? 'example.org' : 'example.com'}`,
      first_name: first, last_name: last, language: es ? 'es' : 'en', country: place.country, timezone: place.timezone,
      birthday: i % 4 === 1 ? null : `${1960 + ((i * 7) % 40)}-${String((i % 12) + 1).padStart(2, '0')}-${String((i % 27) + 1).padStart(2, '0')}`,
      tags, source: SOURCES[i % SOURCES.length],
      email_consent: i % 10 === 3 ? 'withdrawn' : 'granted', // 8 withdrawn
      whatsapp_consent: i % 4 === 0, // 20 (consent only: contacts carry no phone number)
      bounced: i % 20 === 7, // 4 granted addresses that bounced: suppressed, not sendable
    });
  }
  return out;
}

const templateCopy = {
  es: {
    name: 'Demo: novedades de temporada (es)',
    subject: 'Hola {{first_name}}, nuevas salidas para esta temporada',
    heading: 'Nuevas experiencias te esperan',
    body: 'Hola {{first_name}}, hemos abierto nuevas salidas en Cancún, Madrid y Nueva York. Reserva pronto: las plazas son limitadas.',
    button: 'Ver tours',
    footer: 'Recibes este correo porque te suscribiste a las novedades de Spirit Tours.',
    unsubscribe: 'Darse de baja',
  },
  en: {
    name: 'Demo: seasonal news (en)',
    subject: 'Hi {{first_name}}, new departures this season',
    heading: 'New experiences are waiting',
    body: 'Hi {{first_name}}, we have opened new departures in Cancún, Madrid and New York. Book early: places are limited.',
    button: 'See the tours',
    footer: 'You receive this email because you subscribed to Spirit Tours news.',
    unsubscribe: 'Unsubscribe',
  },
};

/** The demo marketing templates (one per language), in the shape POST /api/v1/templates takes. */
export function demoTemplates() {
  const token = `{{${UNSUBSCRIBE_VARIABLE}}}`;
  return (['es', 'en'] as const).map((language) => {
    const c = templateCopy[language];
    const mjml = `<mjml>
  <mj-body background-color="#f4f4f4">
    <mj-section background-color="#ffffff">
      <mj-column>
        <mj-text font-size="22px" font-weight="bold" color="#1d3557">${c.heading}</mj-text>
        <mj-text font-size="15px" line-height="22px">${c.body}</mj-text>
        <mj-button background-color="#e63946" href="https://example.com/tours">${c.button}</mj-button>
      </mj-column>
    </mj-section>
    <mj-section>
      <mj-column>
        <mj-text font-size="12px" color="#777777">${c.footer} <a href="${token}">${c.unsubscribe}</a></mj-text>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>`;
    const text = `${c.heading}\n\n${c.body}\n\n${c.button}: https://example.com/tours\n\n${c.footer}\n${c.unsubscribe}: ${token}\n`;
    return { name: c.name, kind: 'marketing' as const, language, subject: c.subject, mjml, text };
  });
}

export const DEMO_SEGMENT: { name: string; rules: SegmentNode } = {
  name: 'Demo: Spanish newsletter readers',
  rules: { all: [{ field: 'language', op: 'eq', value: 'es' }, { field: 'tag', op: 'has', value: 'newsletter' }] },
};

export async function seedMarketingDemo(knex: Knex): Promise<MarketingSeedReport> {
  if (process.env.NODE_ENV === 'production') throw new Error('the demo seed never runs with NODE_ENV=production');
  const report: MarketingSeedReport = { contacts: 0, templates: 0, segments: 0 };

  // Checked before the transaction (compiling MJML takes a moment): a template that fails is a bug here.
  const templates = demoTemplates();
  for (const t of templates) {
    const { problem } = await checkTemplate(t);
    if (problem) throw new Error(`demo template "${t.name}" is refused: ${problem.message}`);
  }
  const rules = segmentNodeSchema.parse(DEMO_SEGMENT.rules);
  const tooBig = checkSegmentSize(rules);
  if (tooBig) throw new Error(`demo segment refused: ${tooBig}`);

  await knex.transaction(async (trx) => {
    for (const c of demoContacts()) {
      // As POST /api/v1/contacts inserts, then its consent through recordConsent (history and sendable by trigger).
      const inserted = await trx.raw(
        `insert into contacts (email, first_name, last_name, language, country, timezone, birthday, tags, source)
         values (?, ?, ?, ?, ?, ?, ?, ?::text[], ?) on conflict (lower(email)) do nothing returning id`,
        [c.email, c.first_name, c.last_name, c.language, c.country, c.timezone, c.birthday, c.tags, c.source],
      );
      if (!inserted.rows.length) continue;
      const contactId: string = inserted.rows[0].id;
      report.contacts++;
      // A withdrawal recorded by staff (not self-service, so staff may grant it again in the demo).
      await recordConsent(trx, c.email_consent === 'granted'
        ? { contactId, channel: 'email', status: 'granted', source: CONSENT_SOURCE }
        : { contactId, channel: 'email', status: 'withdrawn', source: 'demo seed (asked by phone to stop)' });
      if (c.whatsapp_consent) await recordConsent(trx, { contactId, channel: 'whatsapp', status: 'granted', source: CONSENT_SOURCE });
      if (c.bounced) await suppress(trx, c.email, 'bounce', 'demo seed');
    }

    for (const t of templates) {
      const exists = await trx('email_templates').where({ kind: 'marketing', language: t.language, name: t.name }).first('id');
      if (exists) continue;
      await trx('email_templates').insert({ name: t.name, kind: t.kind, key: null, language: t.language, subject: t.subject, mjml: t.mjml, text: t.text });
      report.templates++;
    }

    if (!(await trx('segments').where({ name: DEMO_SEGMENT.name }).first('id'))) {
      const marketer = await trx('users').where({ email: 'marketer@demo.test' }).first('id');
      await trx('segments').insert({ name: DEMO_SEGMENT.name, rules: JSON.stringify(rules), created_by_user_id: marketer?.id ?? null });
      report.segments++;
    }
  });
  return report;
}
