/**
 * CrisisManager (agents/crisis-manager/): who was told about an incident, who acknowledged, and
 * what was escalated to the operators.
 *
 * - crisis_notifications: one row per incident and booking (the unique key is what makes a
 *   notification exactly-once, whoever retries). Only a SHA-256 of the acknowledgement token is
 *   stored; the token itself travels in the message's link. The incident id is text with no
 *   foreign key: incidents are recorded elsewhere (POST /api/v1/incidents) and the agent takes
 *   its input as given.
 * - crisis_escalations: what the operators were told, once per escalation step: the travellers
 *   still silent at that moment.
 * - The `crisis_alert` (travellers) and `crisis_escalation` (operators) emails, es and en. Tours
 *   already carry their coordinates (tours.meeting_lat, meeting_lng).
 */
import type { Knex } from 'knex';

interface Copy { name: string; subject: string; preheader: string; heading: string; paragraphs: string[]; button?: { label: string; href: string }; after: string[]; footer: string }

const layout = (language: 'es' | 'en', c: Copy) => {
  const text = (p: string) => `
        <mj-text>${p}</mj-text>`;
  const mjml = `<mjml lang="${language}">
  <mj-head>
    <mj-title>${c.subject}</mj-title>
    <mj-preview>${c.preheader}</mj-preview>
    <mj-attributes>
      <mj-all font-family="Helvetica, Arial, sans-serif" />
      <mj-text font-size="15px" line-height="24px" color="#1d2630" />
      <mj-button background-color="#b3261e" color="#ffffff" font-size="15px" font-weight="bold" border-radius="6px" inner-padding="12px 24px" />
    </mj-attributes>
  </mj-head>
  <mj-body background-color="#f3f5f7" width="600px">
    <mj-section padding="24px 0 12px">
      <mj-column>
        <mj-text align="center" font-size="20px" font-weight="bold" letter-spacing="1px" color="#1f7a4d">SPIRIT TOURS</mj-text>
      </mj-column>
    </mj-section>
    <mj-section background-color="#ffffff" border-radius="10px" padding="16px 0">
      <mj-column>
        <mj-text font-size="22px" line-height="30px" font-weight="bold">${c.heading}</mj-text>${c.paragraphs.map(text).join('')}${c.button ? `
        <mj-button href="${c.button.href}" align="left">${c.button.label}</mj-button>` : ''}${c.after.map(text).join('')}
      </mj-column>
    </mj-section>
    <mj-section padding="12px 0 24px">
      <mj-column>
        <mj-text align="center" font-size="12px" line-height="18px" color="#5b6770">${c.footer}</mj-text>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>
`;
  const plain = [c.heading, '', ...c.paragraphs.flatMap((p) => [p, '']), ...(c.button ? [`${c.button.label}: ${c.button.href}`, ''] : []), ...c.after.flatMap((p) => [p, '']), '--', c.footer, ''].join('\n');
  return { mjml, text: plain };
};

const TEMPLATES: Record<'crisis_alert' | 'crisis_escalation', Record<'en' | 'es', Copy>> = {
  crisis_alert: {
    en: {
      name: 'Crisis alert (en)', subject: 'Important: a safety notice about {{tour_name}}', preheader: 'Please read this and tell us you received it.',
      heading: 'A safety notice for your trip',
      paragraphs: ['Hi {{first_name}}, there is an incident near {{tour_name}} ({{departure_date}}, booking {{reference}}):', '{{message}}'],
      button: { label: 'I have read this', href: '{{ack_url}}' },
      after: ['Please use the button so we know you received this notice. If you need help, reply to this email or call us.'],
      footer: 'Spirit Tours · You receive this email about your booking {{reference}}.',
    },
    es: {
      name: 'Alerta de crisis (es)', subject: 'Importante: aviso de seguridad sobre {{tour_name}}', preheader: 'Léelo y confírmanos que lo has recibido.',
      heading: 'Un aviso de seguridad para tu viaje',
      paragraphs: ['Hola {{first_name}}, hay un incidente cerca de {{tour_name}} ({{departure_date}}, reserva {{reference}}):', '{{message}}'],
      button: { label: 'Lo he leído', href: '{{ack_url}}' },
      after: ['Usa el botón para que sepamos que has recibido este aviso. Si necesitas ayuda, responde a este correo o llámanos.'],
      footer: 'Spirit Tours · Recibes este correo por tu reserva {{reference}}.',
    },
  },
  crisis_escalation: {
    en: {
      name: 'Crisis escalation (en)', subject: 'Incident {{incident_id}}: {{silent_count}} traveller(s) have not acknowledged', preheader: 'Contact them another way.',
      heading: 'Travellers who have not acknowledged',
      paragraphs: ['{{silent_count}} of {{notified_count}} traveller(s) told about incident {{incident_id}} have not acknowledged the notice since {{notified_at}}:', '{{silent_list}}'],
      after: ['Please reach them by phone or through their guide.'],
      footer: 'Spirit Tours · CrisisManager escalation for the operations team.',
    },
    es: {
      name: 'Escalado de crisis (es)', subject: 'Incidente {{incident_id}}: {{silent_count}} viajero(s) sin confirmar', preheader: 'Contáctalos por otra vía.',
      heading: 'Viajeros que no han confirmado',
      paragraphs: ['{{silent_count}} de {{notified_count}} viajero(s) avisados del incidente {{incident_id}} no han confirmado el aviso desde {{notified_at}}:', '{{silent_list}}'],
      after: ['Contáctalos por teléfono o a través de su guía.'],
      footer: 'Spirit Tours · Escalado de CrisisManager para el equipo de operaciones.',
    },
  },
};

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`create table crisis_notifications (
    id uuid primary key default gen_random_uuid(),
    incident_id text not null,
    booking_id uuid not null references bookings(id),
    run_id text,
    channel varchar(16) not null,
    recipient text not null,
    token_hash char(64) not null unique,
    message text not null,
    notified_at timestamptz not null default now(),
    acknowledged_at timestamptz,
    acknowledgements integer not null default 0,
    escalated_at timestamptz,
    constraint crisis_notifications_once unique (incident_id, booking_id),
    constraint crisis_notifications_channel check (channel in ('email', 'whatsapp'))
  )`);
  await knex.raw(`create table crisis_escalations (
    id uuid primary key default gen_random_uuid(),
    incident_id text not null,
    run_id text,
    step_key text not null unique,
    notified integer not null,
    silent jsonb not null,
    recipients jsonb not null,
    created_at timestamptz not null default now()
  )`);
  await knex.raw('create index crisis_escalations_incident on crisis_escalations (incident_id, created_at)');

  const rows = (Object.keys(TEMPLATES) as Array<keyof typeof TEMPLATES>).flatMap((key) => (['en', 'es'] as const).map((language) => {
    const copy = TEMPLATES[key][language];
    return { name: copy.name, kind: 'transactional', key, language, subject: copy.subject, ...layout(language, copy) };
  }));
  await knex.raw(
    `insert into email_templates (name, kind, key, language, subject, mjml, text)
     select v.name, v.kind, v.key, v.language, v.subject, v.mjml, v.text
       from jsonb_to_recordset(?::jsonb) as v(name text, kind text, key text, language text, subject text, mjml text, text text)
     on conflict (key, language) where key is not null do nothing`,
    [JSON.stringify(rows)],
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex('email_templates').where({ kind: 'transactional' }).whereIn('key', ['crisis_alert', 'crisis_escalation']).delete();
  await knex.raw('drop table crisis_escalations');
  await knex.raw('drop table crisis_notifications');
}
