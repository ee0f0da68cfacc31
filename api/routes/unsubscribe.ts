/**
 * The unsubscribe and preferences page behind every marketing email's link (/u/{token}, the
 * token from signUnsubscribeToken naming the contact). Public HTML, not the JSON API.
 *
 *   GET  /u/{token}  the page: which address, an Unsubscribe button and the preferences (email
 *                    marketing, WhatsApp). A GET never changes anything: mail scanners open links.
 *   POST /u/{token}  RFC 8058 one-click (body "List-Unsubscribe=One-Click", as mail clients send
 *                    it) or the page's Unsubscribe button: email consent withdrawn (source
 *                    'unsubscribe link') and the address suppressed (reason 'unsubscribe');
 *                    idempotent. The preferences form withdraws at once; anything it would
 *                    grant (again) waits for the person to confirm from their inbox.
 *   GET  /u/confirm/{token}  the confirmation email's link: a Confirm button (a GET changes nothing)
 *   POST /u/confirm/{token}  grants what was asked (source 'confirmed by email'), lifting only
 *                    their own unsubscribe; the token expires (RESUBSCRIBE_CONFIRM_HOURS).
 *
 * Links expire for everything but leaving: an unsubscribe link older than
 * UNSUBSCRIBE_LINK_TTL_DAYS (or from before links were dated) still unsubscribes, one-click
 * included, but its page offers nothing else. Every change here is in the audit log (no actor:
 * the person) and the consent history.
 *
 * A token that is malformed, tampered with or names no contact gets a 404 page.
 */
import type Koa from 'koa';
import type Router from '@koa/router';
import type { Knex } from 'knex';
import { z } from 'zod';
import crypto from 'node:crypto';
import { config, hardening } from '../../platform/config';
import { emailLinkSecret, emailLinkVerifyKeys } from '../../platform/secrets';
import { readUnsubscribeToken, signResubscribeToken, verifyResubscribeToken } from '../../integrations/email/links';
import { createEmailProvider } from '../../integrations/email';
import { liftUnsubscribe, recordConsent, suppress, type ConsentChannel } from '../../models/contacts';
import { recordAudit } from '../../models/audit';
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
    expired: 'This link is from an older email: it can still unsubscribe you, but to change other preferences use the link in a recent email.',
    confirmSent: 'We sent an email to confirm: your new subscriptions start when you open its link.', confirmWait: 'We sent a confirmation email a few minutes ago: please use the link in it.',
    confirmFailed: 'We could not send the confirmation email just now; please try again later.',
    confirmTitle: 'Confirm your subscription', confirmIntro: 'Confirm that you want to receive offers and news again at', confirmButton: 'Yes, subscribe me',
    confirmed: 'Thank you: you are subscribed again.', confirmSubject: 'Confirm your Spirit Tours subscription',
    confirmBody: 'Someone (hopefully you) asked to receive Spirit Tours offers and news again at this address. To confirm, open this link:', confirmIgnore: 'If it was not you, ignore this email: nothing changes.',
    footer: 'Spirit Tours',
  },
  es: {
    title: 'Preferencias de correo', intro: 'Estos ajustes son para', unsubscribe: 'Darme de baja de los correos comerciales',
    unsubscribeHint: 'Seguirás recibiendo los correos sobre tus reservas (confirmaciones, recibos, recordatorios).',
    preferences: 'Tus preferencias', emailMarketing: 'Ofertas y novedades por correo', whatsapp: 'Ofertas y novedades por WhatsApp', save: 'Guardar preferencias',
    unsubscribed: 'Te has dado de baja: no te enviaremos más correos comerciales.', alreadyUnsubscribed: 'Esta dirección está dada de baja de los correos comerciales.',
    saved: 'Tus preferencias se han guardado.', notFoundTitle: 'Enlace no válido', notFound: 'Este enlace no es válido o ha caducado. Si sigues recibiendo correos que no quieres, responde a uno de ellos y te daremos de baja.',
    testTitle: 'Correo de prueba', test: 'Este enlace viene de un correo de prueba: no se ha cambiado nada.', nothingToDo: 'Nada que hacer: elige Darme de baja o guarda tus preferencias.',
    expired: 'Este enlace es de un correo antiguo: todavía sirve para darte de baja, pero para cambiar otras preferencias usa el enlace de un correo reciente.',
    confirmSent: 'Te hemos enviado un correo de confirmación: tus nuevas suscripciones empiezan cuando abras su enlace.', confirmWait: 'Te enviamos un correo de confirmación hace unos minutos: usa el enlace que contiene.',
    confirmFailed: 'No hemos podido enviar el correo de confirmación; inténtalo más tarde.',
    confirmTitle: 'Confirma tu suscripción', confirmIntro: 'Confirma que quieres volver a recibir ofertas y novedades en', confirmButton: 'Sí, suscribirme',
    confirmed: 'Gracias: vuelves a estar suscrito.', confirmSubject: 'Confirma tu suscripción a Spirit Tours',
    confirmBody: 'Alguien (esperamos que tú) ha pedido volver a recibir ofertas y novedades de Spirit Tours en esta dirección. Para confirmarlo, abre este enlace:', confirmIgnore: 'Si no has sido tú, ignora este correo: no cambia nada.',
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

function preferencesPage(c: ContactState, notice?: string, fresh = true): string {
  const t = TEXT[c.language];
  const emailOn = c.emailConsent === 'granted' && !c.suppressed;
  const unsubscribedNow = !emailOn && (c.emailConsent === 'withdrawn' || c.suppressed);
  return html(c.language, t.title, `<h1>${escape(t.title)}</h1>
${notice ? `<p class="notice" role="status">${escape(notice)}</p>` : ''}
<div class="card"><p>${escape(t.intro)} <strong>${escape(c.email)}</strong></p>
${unsubscribedNow ? `<p>${escape(t.alreadyUnsubscribed)}</p>` : `<form method="post"><input type="hidden" name="action" value="unsubscribe"><button class="danger" type="submit">${escape(t.unsubscribe)}</button></form>`}
<p class="muted">${escape(t.unsubscribeHint)}</p></div>
${fresh ? '' : `<p class="muted">${escape(t.expired)}</p>`}${fresh ? `<div class="card"><h2>${escape(t.preferences)}</h2><form method="post"><input type="hidden" name="action" value="preferences">
<label><input type="checkbox" name="email" value="on"${emailOn ? ' checked' : ''}> ${escape(t.emailMarketing)}</label>
<label><input type="checkbox" name="whatsapp" value="on"${c.whatsappConsent === 'granted' ? ' checked' : ''}> ${escape(t.whatsapp)}</label>
<button class="save" type="submit">${escape(t.save)}</button></form></div>` : ''}`);
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

/**
 * What the token names: a contact, a test send, or nothing we know. Subjects may be `contactId`
 * or `contactId:listId`. `fresh`: younger than UNSUBSCRIBE_LINK_TTL_DAYS (an undated token, from
 * before links were dated, is not).
 */
function readToken(token: string, now = Date.now()): { contactId: string; fresh: boolean } | { test: true } | null {
  const read = readUnsubscribeToken(token, emailLinkVerifyKeys());
  if (read === null) return null;
  if (read.subject === TEST_SEND_UNSUBSCRIBE_SUBJECT) return { test: true };
  const id = contactId.safeParse(read.subject.split(':')[0]);
  if (!id.success) return null;
  const fresh = read.time !== null && now - read.time.getTime() < hardening.unsubscribeLinkTtlDays * 86_400_000;
  return { contactId: id.data, fresh };
}

const audit = (ctx: Koa.Context, trx: Knex.Transaction, contactId: string, action: string, data: Record<string, unknown>) =>
  recordAudit(trx, { action, entityType: 'contact', entityId: contactId, data, requestId: ctx.state.requestId, ip: ctx.ip });

/** Email consent withdrawn and the address suppressed; a second time changes nothing. */
export async function unsubscribeContact(ctx: Koa.Context, contact: { id: string; email: string }): Promise<void> {
  await ctx.knex.transaction(async (trx) => {
    const changed = await recordConsent(trx, { contactId: contact.id, channel: 'email', status: 'withdrawn', source: 'unsubscribe link' });
    await suppress(trx, contact.email, 'unsubscribe', 'unsubscribe link');
    if (changed) await audit(ctx, trx, contact.id, 'contact.unsubscribed', { channel: 'email', source: 'unsubscribe link' });
  });
}

/** Withdrawals take effect now; what would be granted is returned, to be confirmed by email. */
async function savePreferences(ctx: Koa.Context, c: ContactState, wanted: Record<ConsentChannel, boolean>): Promise<ConsentChannel[]> {
  const toGrant: ConsentChannel[] = [];
  await ctx.knex.transaction(async (trx) => {
    const emailOn = c.emailConsent === 'granted' && !c.suppressed;
    if (wanted.email !== emailOn) {
      if (wanted.email) toGrant.push('email');
      else {
        await recordConsent(trx, { contactId: c.id, channel: 'email', status: 'withdrawn', source: 'preferences page' });
        await suppress(trx, c.email, 'unsubscribe', 'preferences page');
        await audit(ctx, trx, c.id, 'contact.consent_withdrawn', { channel: 'email', source: 'preferences page' });
      }
    }
    if (wanted.whatsapp !== (c.whatsappConsent === 'granted')) {
      if (wanted.whatsapp) toGrant.push('whatsapp');
      else {
        await recordConsent(trx, { contactId: c.id, channel: 'whatsapp', status: 'withdrawn', source: 'preferences page' });
        await audit(ctx, trx, c.id, 'contact.consent_withdrawn', { channel: 'whatsapp', source: 'preferences page' });
      }
    }
  });
  return toGrant;
}

/** At most one confirmation email per contact in this window, however often the form is sent. */
const CONFIRMATION_INTERVAL_SECONDS = 600;

/**
 * Sends the double opt-in email for `channels`, unless one went out in the last ten minutes.
 * 'sent', 'throttled', or 'failed' (the provider did not take it; the throttle is released).
 */
async function requestConfirmation(ctx: Koa.Context, c: ContactState, channels: ConsentChannel[]): Promise<'sent' | 'throttled' | 'failed'> {
  const claimed = await ctx.knex.raw(
    `insert into contact_resubscribe_requests as r (contact_id, channels, requested_at) values (?, ?::text[], now())
     on conflict (contact_id) do update set channels = excluded.channels, requested_at = excluded.requested_at
     where r.requested_at < now() - make_interval(secs => ?)
     returning r.requested_at`,
    [c.id, channels, CONFIRMATION_INTERVAL_SECONDS],
  );
  if (!claimed.rows.length) return 'throttled';
  const t = TEXT[c.language];
  const expires = new Date(Date.now() + hardening.resubscribeConfirmHours * 3_600_000);
  const link = `${config.publicUrl.replace(/\/+$/, '')}/u/confirm/${encodeURIComponent(signResubscribeToken(`${c.id}:${channels.join(',')}`, emailLinkSecret(), expires))}`;
  const provider = createEmailProvider({ env: process.env, dataDir: config.dataDir, publicUrl: config.publicUrl, linkSecret: emailLinkSecret() });
  try {
    const [result] = await provider.send([{
      sendId: `resubscribe-${crypto.randomUUID()}`, kind: 'transactional', to: { email: c.email }, from: config.email.from,
      subject: t.confirmSubject, categories: ['resubscribe-confirmation'],
      html: `<p>${escape(t.confirmBody)}</p><p><a href="${escape(link)}" clicktracking="off">${escape(link)}</a></p><p>${escape(t.confirmIgnore)}</p>`,
      text: `${t.confirmBody}\n\n${link}\n\n${t.confirmIgnore}\n`,
    }]);
    if (result.status !== 'accepted') throw new Error(result.error ?? result.status);
    return 'sent';
  } catch (err) {
    ctx.state.log.warn({ err: (err as Error).message, contactId: c.id }, 'resubscribe confirmation not sent');
    await ctx.knex('contact_resubscribe_requests').where({ contact_id: c.id }).delete();
    return 'failed';
  } finally {
    await provider.close();
  }
}

/** The confirmation link's grant: consent recorded as confirmed by email, their own unsubscribe lifted (never a bounce or a complaint). */
async function confirmResubscribe(ctx: Koa.Context, c: ContactState, channels: ConsentChannel[]): Promise<void> {
  await ctx.knex.transaction(async (trx) => {
    for (const channel of channels) {
      const changed = await recordConsent(trx, { contactId: c.id, channel, status: 'granted', source: 'confirmed by email' });
      if (channel === 'email') await liftUnsubscribe(trx, c.email);
      if (changed) await audit(ctx, trx, c.id, 'contact.consent_confirmed', { channel, source: 'confirmed by email' });
    }
    await trx('contact_resubscribe_requests').where({ contact_id: c.id }).delete();
  });
}

function confirmPage(c: ContactState, done: boolean): string {
  const t = TEXT[c.language];
  return html(c.language, t.confirmTitle, `<h1>${escape(t.confirmTitle)}</h1>
${done ? `<p class="notice" role="status">${escape(t.confirmed)}</p>` : `<div class="card"><p>${escape(t.confirmIntro)} <strong>${escape(c.email)}</strong></p>
<form method="post"><button class="save" type="submit">${escape(t.confirmButton)}</button></form></div>`}`);
}

function readConfirmToken(token: string): { contactId: string; channels: ConsentChannel[] } | null {
  const subject = verifyResubscribeToken(token, emailLinkVerifyKeys());
  const match = subject ? /^([0-9a-f-]{36}):((?:email|whatsapp)(?:,(?:email|whatsapp))?)$/.exec(subject) : null;
  if (!match || !contactId.safeParse(match[1]).success) return null;
  return { contactId: match[1], channels: [...new Set(match[2].split(','))] as ConsentChannel[] };
}

/** RFC 8058: "List-Unsubscribe=One-Click", urlencoded (what clients send) or as a multipart field. */
function isOneClick(ctx: Koa.Context, form: URLSearchParams): boolean {
  if (form.get('List-Unsubscribe') === 'One-Click') return true;
  if (!ctx.is('multipart/form-data')) return false;
  const raw = ctx.request.rawBody?.toString('utf8') ?? '';
  return /name="List-Unsubscribe"\r?\n(?:[^\r\n]+\r?\n)*\r?\nOne-Click\r?\n/.test(raw);
}

export function mountUnsubscribePages(router: Router): void {
  router.get('/u/confirm/:token', async (ctx: Koa.Context) => {
    ctx.state.route = '/u/confirm/{token}';
    const found = readConfirmToken(String(ctx.params.token));
    const contact = found && (await contactState(ctx.knex, found.contactId));
    if (!contact) return notFoundPage(ctx);
    send(ctx, 200, confirmPage(contact, false));
  });

  router.post('/u/confirm/:token', async (ctx: Koa.Context) => {
    ctx.state.route = '/u/confirm/{token}';
    const found = readConfirmToken(String(ctx.params.token));
    const contact = found && (await contactState(ctx.knex, found.contactId));
    if (!found || !contact) return notFoundPage(ctx);
    await confirmResubscribe(ctx, contact, found.channels);
    send(ctx, 200, confirmPage(contact, true));
  });

  router.get('/u/:token', async (ctx: Koa.Context) => {
    ctx.state.route = '/u/{token}'; // never the token itself in logs and metrics
    const found = readToken(String(ctx.params.token));
    if (!found) return notFoundPage(ctx);
    if ('test' in found) return testPage(ctx);
    const contact = await contactState(ctx.knex, found.contactId);
    if (!contact) return notFoundPage(ctx);
    send(ctx, 200, preferencesPage(contact, undefined, found.fresh));
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
      await unsubscribeContact(ctx, contact); // an old link still unsubscribes
      const after = (await contactState(ctx.knex, contact.id))!;
      return send(ctx, 200, preferencesPage(after, t.unsubscribed, found.fresh));
    }
    if (action === 'preferences' && !found.fresh) return send(ctx, 403, preferencesPage(contact, t.expired, false));
    if (action === 'preferences') {
      const toGrant = await savePreferences(ctx, contact, { email: form.get('email') === 'on', whatsapp: form.get('whatsapp') === 'on' });
      const confirmation = toGrant.length ? await requestConfirmation(ctx, contact, toGrant) : undefined;
      const after = (await contactState(ctx.knex, contact.id))!;
      const notice = { sent: t.confirmSent, throttled: t.confirmWait, failed: t.confirmFailed }[confirmation ?? 'sent'];
      return send(ctx, confirmation === 'failed' ? 502 : 200, preferencesPage(after, confirmation ? notice : t.saved));
    }
    send(ctx, 400, preferencesPage(contact, t.nothingToDo, found.fresh));
  });
}
