/**
 * Email templates: MJML (compiled to responsive HTML), a plain-text part and a subject, per
 * language, with `{{variables}}`. Marketing templates must carry `{{unsubscribe_url}}` in both
 * parts; transactional ones are found by key + language (booking_confirmation, ...).
 *
 * Rendering: the compiled HTML is cached per template version (id + updated_at), because MJML
 * compiles slowly; variables are then substituted, HTML-escaped in the HTML and raw in the
 * subject and text. `{{unsubscribe_url}}` is left for the email provider, which fills it per
 * recipient. MJML itself (~60 MB, 0.3 s to load) is loaded on the first compile.
 */
import type { Knex } from 'knex';

export const TEMPLATE_KINDS = ['marketing', 'transactional'] as const;
export type TemplateKind = (typeof TEMPLATE_KINDS)[number];

/** The token every marketing template shows; the provider replaces it with the recipient's link. */
export const UNSUBSCRIBE_VARIABLE = 'unsubscribe_url';

/** A template as stored (email_templates row). */
export interface EmailTemplateRow {
  id: string;
  name: string;
  kind: TemplateKind;
  key: string | null;
  language: 'es' | 'en';
  subject: string;
  mjml: string;
  text: string;
  created_at: Date | string;
  updated_at: Date | string;
}

/** What a test send's unsubscribe token names when the address is no contact: its page changes nothing. */
export const TEST_SEND_UNSUBSCRIBE_SUBJECT = 'test-send';

/** What rendering needs; without id + updated_at the compiled HTML is not cached. */
export type TemplateSource = Pick<EmailTemplateRow, 'subject' | 'mjml' | 'text'> & Partial<Pick<EmailTemplateRow, 'id' | 'updated_at' | 'kind'>>;

// ---------------------------------------------------------------------------------------------
// Variables

const VARIABLE = /\{\{([a-z_][a-z0-9_.]*)\}\}/g;
const VARIABLE_AT = /\{\{[a-z_][a-z0-9_.]*\}\}/y;

/** The distinct variable names used in a text, in order of first use. */
export function variablesIn(...texts: string[]): string[] {
  const names = new Set<string>();
  for (const text of texts) for (const match of text.matchAll(VARIABLE)) names.add(match[1]);
  return [...names];
}

export interface VariableProblem {
  part: 'subject' | 'mjml' | 'text';
  line: number;
  message: string;
}

/** Every "{{" must open a well-formed `{{name}}` (name: [a-z_][a-z0-9_.]*). */
export function malformedVariables(part: VariableProblem['part'], text: string): VariableProblem[] {
  const problems: VariableProblem[] = [];
  for (let at = text.indexOf('{{'); at !== -1; at = text.indexOf('{{', at + 2)) {
    VARIABLE_AT.lastIndex = at;
    if (VARIABLE_AT.test(text)) continue;
    // "{{{name}}}" is one stray brace before a good token: report it once, at the stray brace.
    const shown = text.slice(at, at + 40).split('\n')[0];
    problems.push({
      part, line: text.slice(0, at).split('\n').length,
      message: `malformed variable "${shown.length === 40 ? `${shown}...` : shown}": write {{name}} with a lower-case name of letters, digits, "_" and "." (e.g. {{first_name}})`,
    });
    if (problems.length >= 20) break;
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// MJML

export interface MjmlProblem {
  line: number | null;
  message: string;
  tagName?: string;
}

export class MjmlInvalid extends Error {
  constructor(readonly problems: MjmlProblem[]) {
    super(`The MJML does not compile: ${problems.slice(0, 3).map((p) => (p.line ? `line ${p.line}: ${p.message}` : p.message)).join('; ')}`);
    this.name = 'MjmlInvalid';
  }
}

type Mjml2Html = typeof import('mjml');
let mjmlModule: Promise<Mjml2Html> | undefined;
const loadMjml = () => (mjmlModule ??= import('mjml').then((m) => (m.default ?? m) as Mjml2Html));

/**
 * MJML → HTML with strict validation (an unknown tag or attribute is an error). mj-include is
 * ignored: a template must not read files from the server.
 */
export async function compileMjml(mjml: string): Promise<string> {
  const mjml2html = await loadMjml();
  let result;
  try {
    result = await mjml2html(mjml, { validationLevel: 'strict', keepComments: false, ignoreIncludes: true });
  } catch (err) {
    type Detail = { line?: number; message?: string; tagName?: string };
    const details = (err as { errors?: Detail[]; details?: Detail[] }).errors ?? (err as { details?: Detail[] }).details;
    if (Array.isArray(details) && details.length) {
      throw new MjmlInvalid(details.map((d) => ({ line: d.line ?? null, message: d.message ?? String(d), ...(d.tagName ? { tagName: d.tagName } : {}) })));
    }
    throw new MjmlInvalid([{ line: null, message: (err as Error).message.trim() || 'the MJML could not be parsed' }]);
  }
  if (result.errors?.length) throw new MjmlInvalid(result.errors.map((e) => ({ line: e.line ?? null, message: e.message, tagName: e.tagName })));
  if (!/<html[\s>]/i.test(result.html)) throw new MjmlInvalid([{ line: null, message: 'the document has no <mjml><mj-body> to render' }]);
  // MJML indents its output; the indentation is a fifth of every message sent. Dropped unless
  // whitespace matters somewhere in the document (<pre>, <textarea>).
  return /<(pre|textarea)[\s>]/i.test(result.html) ? result.html : result.html.replace(/\n[ \t]+/g, '\n');
}

const compiled = new Map<string, string>();
const CACHE_LIMIT = 500;

/** The template's HTML with its `{{variables}}` still in it; cached per template version. */
export async function compiledHtml(template: TemplateSource): Promise<string> {
  const key = template.id && template.updated_at ? `${template.id}:${new Date(template.updated_at).getTime()}` : undefined;
  const hit = key ? compiled.get(key) : undefined;
  if (hit !== undefined) {
    compiled.delete(key!); // most recently used goes last
    compiled.set(key!, hit);
    return hit;
  }
  const html = await compileMjml(template.mjml);
  if (key) {
    if (compiled.size >= CACHE_LIMIT) compiled.delete(compiled.keys().next().value!);
    compiled.set(key, html);
  }
  return html;
}

// ---------------------------------------------------------------------------------------------
// Checks before a template is stored

export interface TemplateInput {
  kind: TemplateKind;
  key?: string | null;
  subject: string;
  mjml: string;
  text: string;
}

export type TemplateProblem =
  | { code: 'invalid_mjml'; message: string; mjmlErrors: MjmlProblem[] }
  | { code: 'invalid_variable'; message: string; variableErrors: VariableProblem[] }
  | { code: 'unsubscribe_link_missing'; message: string; parts: Array<'mjml' | 'text'> };

/** Why this template cannot be stored, or null (with the compiled HTML). */
export async function checkTemplate(input: TemplateInput): Promise<{ problem: TemplateProblem | null; html?: string }> {
  const variableErrors = [
    ...malformedVariables('subject', input.subject), ...malformedVariables('mjml', input.mjml), ...malformedVariables('text', input.text),
  ];
  if (variableErrors.length) {
    const first = variableErrors[0];
    return { problem: { code: 'invalid_variable', message: `${first.part} line ${first.line}: ${first.message}`, variableErrors } };
  }
  let html: string;
  try {
    html = await compileMjml(input.mjml);
  } catch (err) {
    if (err instanceof MjmlInvalid) return { problem: { code: 'invalid_mjml', message: err.message, mjmlErrors: err.problems } };
    throw err;
  }
  if (input.kind === 'marketing') {
    const token = `{{${UNSUBSCRIBE_VARIABLE}}}`;
    const parts: Array<'mjml' | 'text'> = [];
    // Checked in the compiled HTML outside comments: a token in a comment (or an Outlook-only block) does not count.
    if (!html.replace(/<!--[\s\S]*?-->/g, '').includes(token)) parts.push('mjml');
    if (!input.text.includes(token)) parts.push('text');
    if (parts.length) {
      return {
        problem: {
          code: 'unsubscribe_link_missing', parts,
          message: `A marketing template must show the unsubscribe link ${token} in ${parts.join(' and ')} (e.g. <a href="${token}">Unsubscribe</a>); the provider fills it per recipient.`,
        },
      };
    }
  }
  return { problem: null, html };
}

// ---------------------------------------------------------------------------------------------
// Rendering

export type TemplateVariables = Record<string, unknown>;

export interface RenderedTemplate {
  subject: string;
  html: string;
  text: string;
  /** Variables the template uses that were not given: rendered as empty. */
  missingVariables: string[];
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** `name` as given, else a path into nested objects (`booking.reference`). undefined when absent. */
function lookup(variables: TemplateVariables, name: string): string | undefined {
  let value: unknown;
  if (Object.prototype.hasOwnProperty.call(variables, name)) value = variables[name];
  else {
    value = variables;
    for (const part of name.split('.')) {
      if (value === null || typeof value !== 'object' || !Object.prototype.hasOwnProperty.call(value, part)) return undefined;
      value = (value as Record<string, unknown>)[part];
    }
  }
  if (value === undefined) return undefined;
  if (value === null) return '';
  if (value instanceof Date) return value.toISOString();
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/**
 * Subject, HTML and text with the variables filled in: HTML-escaped in the HTML only, raw in the
 * text, raw in the subject but for line breaks (a header line: CR/LF become a space). `keep` names tokens left in place for the provider's per-recipient
 * substitution (always `unsubscribe_url`).
 */
export async function renderTemplate(template: TemplateSource, variables: TemplateVariables = {}, options: { keep?: string[] } = {}): Promise<RenderedTemplate> {
  const keep = new Set([UNSUBSCRIBE_VARIABLE, ...(options.keep ?? [])]);
  const missing = new Set<string>();
  const fill = (text: string, escape: boolean) => text.replace(VARIABLE, (token, name: string) => {
    if (keep.has(name)) return token;
    const value = lookup(variables, name);
    if (value === undefined) {
      missing.add(name);
      return '';
    }
    return escape ? escapeHtml(value) : value;
  });
  const html = fill(await compiledHtml(template), true);
  return { subject: fill(template.subject, false).replace(/[\r\n]+/g, ' '), html, text: fill(template.text, false), missingVariables: [...missing] };
}

/** A contact's fields as template variables. */
export function contactVariables(contact: { first_name?: string | null; last_name?: string | null; email: string; language?: string; country?: string | null; timezone?: string | null; birthday?: string | null }) {
  return {
    first_name: contact.first_name ?? '', last_name: contact.last_name ?? '', email: contact.email, language: contact.language ?? 'en',
    country: contact.country ?? '', timezone: contact.timezone ?? '', birthday: contact.birthday ?? '',
  };
}

/** A made-up contact for previews when none is chosen. */
export function sampleContact(language: 'es' | 'en') {
  return language === 'es'
    ? { first_name: 'Lucía', last_name: 'García', email: 'lucia.garcia@example.com', language, country: 'ES', timezone: 'Europe/Madrid', birthday: '1988-05-14' }
    : { first_name: 'Alex', last_name: 'Morgan', email: 'alex.morgan@example.com', language, country: 'US', timezone: 'America/New_York', birthday: '1985-09-02' };
}

export async function findTransactionalTemplate(knex: Knex, key: string, language: 'es' | 'en'): Promise<EmailTemplateRow | undefined> {
  return knex('email_templates').where({ kind: 'transactional', key, language }).first();
}

// ---------------------------------------------------------------------------------------------
// The booking lifecycle's transactional templates, es and en

export const TRANSACTIONAL_KEYS = [
  'booking_confirmation', 'payment_receipt', 'balance_reminder', 'pre_trip_reminder', 'review_request', 'booking_cancellation', 'hold_expired', 'waitlist_offer',
] as const;
export type TransactionalKey = (typeof TRANSACTIONAL_KEYS)[number];

interface Copy {
  name: string;
  subject: string;
  preheader: string;
  heading: string;
  paragraphs: string[];
  details?: Array<[string, string]>;
  button?: { label: string; href: string };
  after?: string[];
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const FOOTER = {
  en: 'Spirit Tours · You receive this email about your booking {{reference}}. Questions? Just reply to this email.',
  es: 'Spirit Tours · Recibes este correo por tu reserva {{reference}}. ¿Preguntas? Responde a este correo.',
};

function layout(language: 'es' | 'en', c: Copy): { mjml: string; text: string } {
  const details = c.details?.length
    ? `
        <mj-table font-size="14px" line-height="22px" color="#1d2630" padding="8px 25px 16px">
${c.details.map(([label, value]) => `          <tr style="border-bottom:1px solid #e8ecef"><td style="padding:6px 0;color:#5b6770">${esc(label)}</td><td style="padding:6px 0;text-align:right"><strong>${esc(value)}</strong></td></tr>`).join('\n')}
        </mj-table>`
    : '';
  const button = c.button ? `
        <mj-button href="${c.button.href}" align="left">${esc(c.button.label)}</mj-button>` : '';
  const paragraphs = (list: string[] | undefined) => (list ?? []).map((p) => `
        <mj-text>${esc(p)}</mj-text>`).join('');
  const mjml = `<mjml lang="${language}">
  <mj-head>
    <mj-title>${esc(c.subject)}</mj-title>
    <mj-preview>${esc(c.preheader)}</mj-preview>
    <mj-attributes>
      <mj-all font-family="Helvetica, Arial, sans-serif" />
      <mj-text font-size="15px" line-height="24px" color="#1d2630" />
      <mj-button background-color="#1f7a4d" color="#ffffff" font-size="15px" font-weight="bold" border-radius="6px" inner-padding="12px 24px" />
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
        <mj-text font-size="22px" line-height="30px" font-weight="bold">${esc(c.heading)}</mj-text>${paragraphs(c.paragraphs)}${details}${button}${paragraphs(c.after)}
      </mj-column>
    </mj-section>
    <mj-section padding="12px 0 24px">
      <mj-column>
        <mj-text align="center" font-size="12px" line-height="18px" color="#5b6770">${esc(FOOTER[language])}</mj-text>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>
`;
  const text = [
    c.heading, '',
    ...c.paragraphs.flatMap((p) => [p, '']),
    ...(c.details?.length ? [...c.details.map(([label, value]) => `${label}: ${value}`), ''] : []),
    ...(c.button ? [`${c.button.label}: ${c.button.href}`, ''] : []),
    ...(c.after ?? []).flatMap((p) => [p, '']),
    '--', FOOTER[language], '',
  ].join('\n');
  return { mjml, text };
}

const COPY: Record<TransactionalKey, Record<'es' | 'en', Copy>> = {
  booking_confirmation: {
    en: {
      name: 'Booking confirmation', subject: 'Booking {{reference}} confirmed: {{tour_name}}', preheader: 'Your seats on {{tour_name}} are confirmed.',
      heading: 'Your booking is confirmed', paragraphs: ['Hi {{first_name}}, thank you for booking with us. Your seats are confirmed; here are the details.'],
      details: [['Reference', '{{reference}}'], ['Tour', '{{tour_name}}'], ['Date', '{{departure_date}}'], ['Travellers', '{{pax_count}}'], ['Total', '{{total}}'], ['Paid', '{{amount_paid}}'], ['Balance due', '{{balance_due}} by {{balance_due_on}}']],
      button: { label: 'View your booking', href: '{{manage_url}}' }, after: ['We will remind you before the balance is due and again before your trip.'],
    },
    es: {
      name: 'Confirmación de reserva', subject: 'Reserva {{reference}} confirmada: {{tour_name}}', preheader: 'Tus plazas en {{tour_name}} están confirmadas.',
      heading: 'Tu reserva está confirmada', paragraphs: ['Hola {{first_name}}, gracias por reservar con nosotros. Tus plazas están confirmadas; estos son los detalles.'],
      details: [['Referencia', '{{reference}}'], ['Tour', '{{tour_name}}'], ['Fecha', '{{departure_date}}'], ['Viajeros', '{{pax_count}}'], ['Total', '{{total}}'], ['Pagado', '{{amount_paid}}'], ['Pendiente', '{{balance_due}} antes del {{balance_due_on}}']],
      button: { label: 'Ver tu reserva', href: '{{manage_url}}' }, after: ['Te avisaremos antes de que venza el pago pendiente y de nuevo antes del viaje.'],
    },
  },
  payment_receipt: {
    en: {
      name: 'Payment receipt', subject: 'Payment received for booking {{reference}}', preheader: 'We received {{amount}} for {{tour_name}}.',
      heading: 'We received your payment', paragraphs: ['Hi {{first_name}}, this is your receipt. Thank you!'],
      details: [['Reference', '{{reference}}'], ['Tour', '{{tour_name}}'], ['Amount', '{{amount}}'], ['Date', '{{payment_date}}'], ['Paid so far', '{{amount_paid}}'], ['Balance due', '{{balance_due}}']],
      button: { label: 'View your booking', href: '{{manage_url}}' },
    },
    es: {
      name: 'Recibo de pago', subject: 'Pago recibido de la reserva {{reference}}', preheader: 'Hemos recibido {{amount}} para {{tour_name}}.',
      heading: 'Hemos recibido tu pago', paragraphs: ['Hola {{first_name}}, este es tu recibo. ¡Gracias!'],
      details: [['Referencia', '{{reference}}'], ['Tour', '{{tour_name}}'], ['Importe', '{{amount}}'], ['Fecha', '{{payment_date}}'], ['Pagado hasta ahora', '{{amount_paid}}'], ['Pendiente', '{{balance_due}}']],
      button: { label: 'Ver tu reserva', href: '{{manage_url}}' },
    },
  },
  balance_reminder: {
    en: {
      name: 'Balance reminder', subject: 'Your balance for {{tour_name}} is due on {{balance_due_on}}', preheader: '{{balance_due}} left to pay for booking {{reference}}.',
      heading: 'Your balance is due soon', paragraphs: ['Hi {{first_name}}, the balance of your booking is due on {{balance_due_on}}. Pay it in a minute with the button below.'],
      details: [['Reference', '{{reference}}'], ['Tour', '{{tour_name}}'], ['Date', '{{departure_date}}'], ['Balance due', '{{balance_due}}'], ['Due on', '{{balance_due_on}}']],
      button: { label: 'Pay the balance', href: '{{pay_url}}' }, after: ['If the balance is not paid by then, the booking may be cancelled under our terms.'],
    },
    es: {
      name: 'Recordatorio de pago pendiente', subject: 'El pago pendiente de {{tour_name}} vence el {{balance_due_on}}', preheader: 'Quedan {{balance_due}} por pagar de la reserva {{reference}}.',
      heading: 'Tu pago pendiente vence pronto', paragraphs: ['Hola {{first_name}}, el pago pendiente de tu reserva vence el {{balance_due_on}}. Págalo en un minuto con el botón de abajo.'],
      details: [['Referencia', '{{reference}}'], ['Tour', '{{tour_name}}'], ['Fecha', '{{departure_date}}'], ['Pendiente', '{{balance_due}}'], ['Vence el', '{{balance_due_on}}']],
      button: { label: 'Pagar ahora', href: '{{pay_url}}' }, after: ['Si no se paga antes de esa fecha, la reserva puede cancelarse según nuestras condiciones.'],
    },
  },
  pre_trip_reminder: {
    en: {
      name: 'Pre-trip reminder', subject: 'See you soon on {{tour_name}}', preheader: '{{departure_date}} at {{departure_time}}: where to meet and what to bring.',
      heading: 'Your trip is coming up', paragraphs: ['Hi {{first_name}}, we are looking forward to seeing you. Please be at the meeting point 15 minutes early.'],
      details: [['Tour', '{{tour_name}}'], ['Date', '{{departure_date}}'], ['Time', '{{departure_time}}'], ['Meeting point', '{{meeting_point}}'], ['Travellers', '{{pax_count}}'], ['Reference', '{{reference}}']],
      button: { label: 'View your booking', href: '{{manage_url}}' }, after: ['Bring comfortable shoes, water and a photo ID. Have a great trip!'],
    },
    es: {
      name: 'Recordatorio antes del viaje', subject: 'Nos vemos pronto en {{tour_name}}', preheader: '{{departure_date}} a las {{departure_time}}: dónde quedamos y qué llevar.',
      heading: 'Tu viaje se acerca', paragraphs: ['Hola {{first_name}}, tenemos muchas ganas de verte. Llega al punto de encuentro 15 minutos antes.'],
      details: [['Tour', '{{tour_name}}'], ['Fecha', '{{departure_date}}'], ['Hora', '{{departure_time}}'], ['Punto de encuentro', '{{meeting_point}}'], ['Viajeros', '{{pax_count}}'], ['Referencia', '{{reference}}']],
      button: { label: 'Ver tu reserva', href: '{{manage_url}}' }, after: ['Trae calzado cómodo, agua y un documento de identidad. ¡Buen viaje!'],
    },
  },
  review_request: {
    en: {
      name: 'Review request', subject: 'How was {{tour_name}}?', preheader: 'Two minutes of your time help other travellers choose.',
      heading: 'How was your trip?', paragraphs: ['Hi {{first_name}}, thank you for travelling with us on {{tour_name}}. Would you tell other travellers how it went? It takes two minutes.'],
      button: { label: 'Write a review', href: '{{review_url}}' }, after: ['Something we should know? Reply to this email: it reaches our team.'],
    },
    es: {
      name: 'Solicitud de opinión', subject: '¿Qué tal {{tour_name}}?', preheader: 'Dos minutos de tu tiempo ayudan a otros viajeros a elegir.',
      heading: '¿Qué tal fue tu viaje?', paragraphs: ['Hola {{first_name}}, gracias por viajar con nosotros en {{tour_name}}. ¿Nos cuentas cómo fue para otros viajeros? Son dos minutos.'],
      button: { label: 'Escribir una opinión', href: '{{review_url}}' }, after: ['¿Algo que debamos saber? Responde a este correo: llega a nuestro equipo.'],
    },
  },
  booking_cancellation: {
    en: {
      name: 'Booking cancellation', subject: 'Booking {{reference}} cancelled', preheader: 'Your booking for {{tour_name}} is cancelled; refund: {{refund_amount}}.',
      heading: 'Your booking has been cancelled', paragraphs: ['Hi {{first_name}}, your booking is cancelled as requested.'],
      details: [['Reference', '{{reference}}'], ['Tour', '{{tour_name}}'], ['Date', '{{departure_date}}'], ['Refund', '{{refund_amount}}']],
      button: { label: 'View your booking', href: '{{manage_url}}' }, after: ['Refunds reach your account within 5 to 10 business days, depending on your bank. We hope to see you on another trip.'],
    },
    es: {
      name: 'Cancelación de reserva', subject: 'Reserva {{reference}} cancelada', preheader: 'Tu reserva de {{tour_name}} está cancelada; reembolso: {{refund_amount}}.',
      heading: 'Tu reserva está cancelada', paragraphs: ['Hola {{first_name}}, hemos cancelado tu reserva como pediste.'],
      details: [['Referencia', '{{reference}}'], ['Tour', '{{tour_name}}'], ['Fecha', '{{departure_date}}'], ['Reembolso', '{{refund_amount}}']],
      button: { label: 'Ver tu reserva', href: '{{manage_url}}' }, after: ['El reembolso llega a tu cuenta en 5 a 10 días hábiles, según tu banco. Esperamos verte en otro viaje.'],
    },
  },
  hold_expired: {
    en: {
      name: 'Hold expired', subject: 'Your hold on {{tour_name}} has expired', preheader: 'The seats were released; you can book again.',
      heading: 'Your reservation hold has expired', paragraphs: ['Hi {{first_name}}, we held seats on {{tour_name}} ({{departure_date}}) for you, but the payment did not arrive in time, so they were released. Nothing was charged.'],
      details: [['Reference', '{{reference}}'], ['Tour', '{{tour_name}}'], ['Date', '{{departure_date}}']],
      button: { label: 'Book again', href: '{{book_url}}' },
    },
    es: {
      name: 'Reserva provisional caducada', subject: 'Tu reserva provisional de {{tour_name}} ha caducado', preheader: 'Hemos liberado las plazas; puedes reservar de nuevo.',
      heading: 'Tu reserva provisional ha caducado', paragraphs: ['Hola {{first_name}}, te guardamos plazas en {{tour_name}} ({{departure_date}}), pero el pago no llegó a tiempo y las hemos liberado. No se ha cobrado nada.'],
      details: [['Referencia', '{{reference}}'], ['Tour', '{{tour_name}}'], ['Fecha', '{{departure_date}}']],
      button: { label: 'Reservar de nuevo', href: '{{book_url}}' },
    },
  },
  waitlist_offer: {
    en: {
      name: 'Waitlist offer', subject: 'A seat opened up on {{tour_name}}', preheader: 'Claim it before {{offer_expires_at}}.',
      heading: 'Good news: seats are available', paragraphs: ['Hi {{first_name}}, {{seats}} seat(s) opened up on {{tour_name}} ({{departure_date}}) and you are next on the waitlist.'],
      details: [['Tour', '{{tour_name}}'], ['Date', '{{departure_date}}'], ['Seats', '{{seats}}'], ['Offer valid until', '{{offer_expires_at}}']],
      button: { label: 'Claim your seats', href: '{{offer_url}}' }, after: ['After that time the seats go to the next person on the waitlist.'],
    },
    es: {
      name: 'Oferta de lista de espera', subject: 'Hay plazas libres en {{tour_name}}', preheader: 'Resérvalas antes de {{offer_expires_at}}.',
      heading: 'Buenas noticias: hay plazas libres', paragraphs: ['Hola {{first_name}}, se han liberado {{seats}} plaza(s) en {{tour_name}} ({{departure_date}}) y eres el siguiente en la lista de espera.'],
      details: [['Tour', '{{tour_name}}'], ['Fecha', '{{departure_date}}'], ['Plazas', '{{seats}}'], ['Oferta válida hasta', '{{offer_expires_at}}']],
      button: { label: 'Reservar mis plazas', href: '{{offer_url}}' }, after: ['Pasado ese momento, las plazas pasan a la siguiente persona de la lista.'],
    },
  },
};

/** The seeded transactional templates, built from COPY (exported for tests and the message sender). */
export function transactionalTemplateSeeds(): Array<Omit<EmailTemplateRow, 'id' | 'created_at' | 'updated_at'>> {
  return TRANSACTIONAL_KEYS.flatMap((key) => (['en', 'es'] as const).map((language) => {
    const copy = COPY[key][language];
    return { name: `${copy.name} (${language})`, kind: 'transactional' as const, key, language, subject: copy.subject, ...layout(language, copy) };
  }));
}

/** The variables each transactional template uses, for whoever fills them (the booking message sender). */
export const TRANSACTIONAL_TEMPLATE_VARIABLES = Object.fromEntries(TRANSACTIONAL_KEYS.map((key) => {
  const en = transactionalTemplateSeeds().find((t) => t.key === key && t.language === 'en')!;
  return [key, variablesIn(en.subject, en.mjml, en.text)];
})) as Record<TransactionalKey, string[]>;

/**
 * Inserts the booking lifecycle's transactional templates in es and en. Idempotent: an existing
 * key + language is left as it is (staff may have edited it). Returns how many were inserted.
 */
export async function seedTransactionalTemplates(knex: Knex): Promise<number> {
  const result = await knex.raw(
    `insert into email_templates (name, kind, key, language, subject, mjml, text)
     select v.name, v.kind, v.key, v.language, v.subject, v.mjml, v.text
       from jsonb_to_recordset(?::jsonb) as v(name text, kind text, key text, language text, subject text, mjml text, text text)
     on conflict (key, language) where key is not null do nothing`,
    [JSON.stringify(transactionalTemplateSeeds())],
  );
  return result.rowCount ?? 0;
}
