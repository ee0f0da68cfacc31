/**
 * The unsubscribe and preferences page behind every marketing email's link (/u/{token}, the
 * token from signUnsubscribeToken naming the contact). Public HTML, not the JSON API.
 *
 *   GET  /u/{token}  the page: which address, an Unsubscribe button and the preferences (email
 *                    marketing, WhatsApp). A GET never changes anything: mail scanners open links.
 *   POST /u/{token}  RFC 8058 one-click (body "List-Unsubscribe=One-Click", as mail clients send
 *                    it) or the page's Unsubscribe button: email consent withdrawn (source
 *                    'unsubscribe link') and the address suppressed (reason 'unsubscribe');
 *                    idempotent. The preferences form sets each channel's consent.
 *
 * A token that is malformed, tampered with or names no contact gets a 404 page.
 */
import type Koa from 'koa';
import type Router from '@koa/router';
import type { Knex } from 'knex';
import { z } from 'zod';
import { emailLinkVerifyKeys } from '../../platform/secrets';
import { verifyUnsubscribeToken } from '../../integrations/email/links';
import { liftUnsubscribe, recordConsent, suppress, type ConsentChannel } from '../../models/contacts';
import { TEST_SEND_UNSUBSCRIBE_SUBJECT } from '../../models/templates';

type Language = 'es' | 'en';

const TEXT = {
  en: {
    title: 'Email preferences', intro: 'These settings are for', unsubscribe: 'Unsubscribe from marketing emails',
    unsubscribeHint: 'You will still receive emails about your bookings (confirmations, receipts, reminders).',
    preferences: 'Your preferences', emailMarketing: 'Offers and news by email', whatsapp: 'Offers and news on WhatsApp', save: 'Save preferences',
    unsubscribed: 'You are unsubscribed: we will not send you marketing emails any more.', alreadyUnsubscribed: 'This address is unsubscribed from marketing emails.',
    saved: 'Your preferences are saved.', notFoundTitle: 'Link not valid', notFound: 'This link is not valid or has expired. If you keep receiving emails you do not want, reply to one of them and we will remove you.',
    testTitle: 'Test email', test: 'This link came from a test email: nothing was changed.', nothingToDo: 'Nothing to do: choose Unsubscribe or save your preferences.',
    footer: 'Spirit Tours',
  },
  es: {
    title: 'Preferencias de correo', intro: 'Estos ajustes son para', unsubscribe: 'Darme de baja de los correos comerciales',
    unsubscribeHint: 'Seguirás recibiendo los correos sobre tus reservas (confirmaciones, recibos, recordatorios).',
    preferences: 'Tus preferencias', emailMarketing: 'Ofertas y novedades por correo', whatsapp: 'Ofertas y novedades por WhatsApp', save: 'Guardar preferencias',
    unsubscribed: 'Te has dado de baja: no te enviaremos más correos comerciales.', alreadyUnsubscribed: 'Esta dirección está dada de baja de los correos comerciales.',
    saved: 'Tus preferencias se han guardado.', notFoundTitle: 'Enlace no válido', notFound: 'Este enlace no es válido o ha caducado. Si sigues recibiendo correos que no quieres, responde a uno de ellos y te daremos de baja.',
    testTitle: 'Correo de prueba', test: 'Este enlace viene de un correo de prueba: no se ha cambiado nada.', nothingToDo: 'Nada que hacer: elige Darme de baja o guarda tus preferencias.',
    footer: 'Spirit Tours',
  },
} satisfies Record<Language, Record<string, string>>;

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function html(language: Language, title: string, body: string): string {
  return `<!doctype html><html lang="${language}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>${escape(title)}</title><style>body{font-family:system-ui,sans-serif;max-width:30rem;margin:3rem auto;padding:0 1rem;color:#1d2630}
.card{border:1px solid #d7dde3;border-radius:12px;padding:1.5rem;margin-bottom:1rem}button{font-size:1rem;padding:.6rem 1.2rem;border-radius:8px;border:0;cursor:pointer}
.danger{background:#b3261e;color:#fff}.save{background:#1f7a4d;color:#fff}label{display:block;margin:.6rem 0}.notice{background:#e7f4ec;border-radius:8px;padding:.8rem 1rem}
.muted{color:#5b6770;font-size:.9rem}h2{font-size:1.1rem}</style></head><body>${body}<p class="muted">${escape(TEXT[language].footer)}</p></body></html>`;
}

interface ContactState {
  id: string;
  email: string;
  language: Language;
  emailConsent: string | null;
  whatsappConsent: string | null;
  suppressed: boolean;
}

async function contactState(knex: Knex, id: string): Promise<ContactState | null> {
  const row = await knex('contacts as c')
    .leftJoin('contact_consents as ce', (j) => j.on('ce.contact_id', 'c.id').andOnVal('ce.channel', 'email'))
    .leftJoin('contact_consents as cw', (j) => j.on('cw.contact_id', 'c.id').andOnVal('cw.channel', 'whatsapp'))
    .where('c.id', id)
    .first('c.id', 'c.email', 'c.language', 'ce.status as email_consent', 'cw.status as whatsapp_consent',
      knex.raw('exists (select 1 from suppressions s where s.email = lower(c.email)) as suppressed'));
  if (!row) return null;
  return { id: row.id, email: row.email, language: row.language === 'es' ? 'es' : 'en', emailConsent: row.email_consent, whatsappConsent: row.whatsapp_consent, suppressed: row.suppressed };
}

function preferencesPage(c: ContactState, notice?: string): string {
  const t = TEXT[c.language];
  const emailOn = c.emailConsent === 'granted' && !c.suppressed;
  const unsubscribedNow = !emailOn && (c.emailConsent === 'withdrawn' || c.suppressed);
  return html(c.language, t.title, `<h1>${escape(t.title)}</h1>
${notice ? `<p class="notice" role="status">${escape(notice)}</p>` : ''}
<div class="card"><p>${escape(t.intro)} <strong>${escape(c.email)}</strong></p>
${unsubscribedNow ? `<p>${escape(t.alreadyUnsubscribed)}</p>` : `<form method="post"><input type="hidden" name="action" value="unsubscribe"><button class="danger" type="submit">${escape(t.unsubscribe)}</button></form>`}
<p class="muted">${escape(t.unsubscribeHint)}</p></div>
<div class="card"><h2>${escape(t.preferences)}</h2><form method="post"><input type="hidden" name="action" value="preferences">
<label><input type="checkbox" name="email" value="on"${emailOn ? ' checked' : ''}> ${escape(t.emailMarketing)}</label>
<label><input type="checkbox" name="whatsapp" value="on"${c.whatsappConsent === 'granted' ? ' checked' : ''}> ${escape(t.whatsapp)}</label>
<button class="save" type="submit">${escape(t.save)}</button></form></div>`);
}

function send(ctx: Koa.Context, status: number, body: string): void {
  ctx.status = status;
  ctx.type = 'html';
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Referrer-Policy', 'no-referrer'); // the token is in the URL
  ctx.set('X-Robots-Tag', 'noindex');
  ctx.set('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'");
  ctx.body = body;
}

function notFoundPage(ctx: Koa.Context): void {
  const language: Language = ctx.acceptsLanguages('en', 'es') === 'es' ? 'es' : 'en';
  const t = TEXT[language];
  send(ctx, 404, html(language, t.notFoundTitle, `<h1>${escape(t.notFoundTitle)}</h1><div class="card"><p>${escape(t.notFound)}</p></div>`));
}

function testPage(ctx: Koa.Context): void {
  const language: Language = ctx.acceptsLanguages('en', 'es') === 'es' ? 'es' : 'en';
  const t = TEXT[language];
  send(ctx, 200, html(language, t.testTitle, `<h1>${escape(t.testTitle)}</h1><div class="card"><p>${escape(t.test)}</p></div>`));
}

const contactId = z.uuid();

/** What the token names: a contact, a test send, or nothing we know. Subjects may be `contactId` or `contactId:listId`. */
function readToken(token: string): { contactId: string } | { test: true } | null {
  const subject = verifyUnsubscribeToken(token, emailLinkVerifyKeys());
  if (subject === null) return null;
  if (subject === TEST_SEND_UNSUBSCRIBE_SUBJECT) return { test: true };
  const id = contactId.safeParse(subject.split(':')[0]);
  return id.success ? { contactId: id.data } : null;
}

/** Email consent withdrawn and the address suppressed; a second time changes nothing. */
export async function unsubscribeContact(knex: Knex, contact: { id: string; email: string }): Promise<void> {
  await knex.transaction(async (trx) => {
    await recordConsent(trx, { contactId: contact.id, channel: 'email', status: 'withdrawn', source: 'unsubscribe link' });
    await suppress(trx, contact.email, 'unsubscribe', 'unsubscribe link');
  });
}

async function savePreferences(knex: Knex, c: ContactState, wanted: Record<ConsentChannel, boolean>): Promise<void> {
  await knex.transaction(async (trx) => {
    const emailOn = c.emailConsent === 'granted' && !c.suppressed;
    if (wanted.email !== emailOn) {
      if (wanted.email) {
        await recordConsent(trx, { contactId: c.id, channel: 'email', status: 'granted', source: 'preferences page' });
        await liftUnsubscribe(trx, c.email); // only their own unsubscribe: a bounce or a complaint stays
      } else {
        await recordConsent(trx, { contactId: c.id, channel: 'email', status: 'withdrawn', source: 'preferences page' });
        await suppress(trx, c.email, 'unsubscribe', 'preferences page');
      }
    }
    if (wanted.whatsapp !== (c.whatsappConsent === 'granted')) {
      await recordConsent(trx, { contactId: c.id, channel: 'whatsapp', status: wanted.whatsapp ? 'granted' : 'withdrawn', source: 'preferences page' });
    }
  });
}

/** RFC 8058: "List-Unsubscribe=One-Click", urlencoded (what clients send) or as a multipart field. */
function isOneClick(ctx: Koa.Context, form: URLSearchParams): boolean {
  if (form.get('List-Unsubscribe') === 'One-Click') return true;
  if (!ctx.is('multipart/form-data')) return false;
  const raw = ctx.request.rawBody?.toString('utf8') ?? '';
  return /name="List-Unsubscribe"\r?\n(?:[^\r\n]+\r?\n)*\r?\nOne-Click\r?\n/.test(raw);
}

export function mountUnsubscribePages(router: Router): void {
  router.get('/u/:token', async (ctx: Koa.Context) => {
    ctx.state.route = '/u/{token}'; // never the token itself in logs and metrics
    const found = readToken(String(ctx.params.token));
    if (!found) return notFoundPage(ctx);
    if ('test' in found) return testPage(ctx);
    const contact = await contactState(ctx.knex, found.contactId);
    if (!contact) return notFoundPage(ctx);
    send(ctx, 200, preferencesPage(contact));
  });

  router.post('/u/:token', async (ctx: Koa.Context) => {
    ctx.state.route = '/u/{token}';
    const found = readToken(String(ctx.params.token));
    if (!found) return notFoundPage(ctx);
    if ('test' in found) return testPage(ctx);
    const contact = await contactState(ctx.knex, found.contactId);
    if (!contact) return notFoundPage(ctx);
    const t = TEXT[contact.language];
    // Read as a urlencoded form whatever the declared type (some clients send none); multipart only for one-click.
    const form = new URLSearchParams(ctx.is('multipart/form-data') ? '' : ctx.request.rawBody?.toString('utf8') ?? '');
    const action = form.get('action');
    if (isOneClick(ctx, form) || action === 'unsubscribe') {
      await unsubscribeContact(ctx.knex, contact);
      const after = (await contactState(ctx.knex, contact.id))!;
      return send(ctx, 200, preferencesPage(after, t.unsubscribed));
    }
    if (action === 'preferences') {
      await savePreferences(ctx.knex, contact, { email: form.get('email') === 'on', whatsapp: form.get('whatsapp') === 'on' });
      const after = (await contactState(ctx.knex, contact.id))!;
      return send(ctx, 200, preferencesPage(after, t.saved));
    }
    send(ctx, 400, preferencesPage(contact, t.nothingToDo));
  });
}
