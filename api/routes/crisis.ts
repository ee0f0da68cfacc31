/**
 * Crisis acknowledgements (CrisisManager's notices) and where an incident stands.
 *
 *   GET  /a/{token}  public HTML: the notice and an "I have read this" button. A GET changes
 *                    nothing (mail scanners open links; a scanner must never mark a traveller safe).
 *   POST /a/{token}  the button: records the acknowledgement (idempotent) and thanks.
 *   POST /api/v1/crisis/acks/{token}  the same as JSON (apps, WhatsApp flows).
 *   GET  /api/v1/crisis/incidents/{incidentId}  staff: each notice, acknowledged or not, and the escalations.
 *
 * A token that names nothing gets a 404 (page or problem).
 */
import type Koa from 'koa';
import type Router from '@koa/router';
import { z } from 'zod';
import { acknowledgeCrisisNotice, crisisIncidentView, findCrisisNotice } from '../../models/crisis';
import { recordAudit } from '../../models/audit';
import { Problem } from '../http/problem';
import { route } from '../http/routes';

type Language = 'es' | 'en';

const TEXT = {
  en: {
    title: 'Safety notice', intro: 'A notice about your booking', button: 'I have read this', thanks: 'Thank you: we know you received this notice.',
    already: 'You already told us you received this notice. Thank you.', notFoundTitle: 'Link not valid', notFound: 'This link is not valid. If you need help, reply to the email or call us.',
    help: 'If you need help, reply to the email or call us.',
  },
  es: {
    title: 'Aviso de seguridad', intro: 'Un aviso sobre tu reserva', button: 'Lo he leído', thanks: 'Gracias: sabemos que has recibido este aviso.',
    already: 'Ya nos confirmaste que recibiste este aviso. Gracias.', notFoundTitle: 'Enlace no válido', notFound: 'Este enlace no es válido. Si necesitas ayuda, responde al correo o llámanos.',
    help: 'Si necesitas ayuda, responde al correo o llámanos.',
  },
} satisfies Record<Language, Record<string, string>>;

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(ctx: Koa.Context, status: number, language: Language, title: string, body: string): void {
  ctx.status = status;
  ctx.type = 'html';
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Referrer-Policy', 'no-referrer'); // the token is in the URL
  ctx.body = `<!doctype html><html lang="${language}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>${escape(title)}</title><style>body{font-family:system-ui,sans-serif;max-width:30rem;margin:3rem auto;padding:0 1rem;color:#1d2630}
.card{border:1px solid #d7dde3;border-radius:12px;padding:1.5rem;margin-bottom:1rem}button{font-size:1rem;padding:.6rem 1.2rem;border-radius:8px;border:0;cursor:pointer;background:#1f7a4d;color:#fff}
.notice{background:#e7f4ec;border-radius:8px;padding:.8rem 1rem}.muted{color:#5b6770;font-size:.9rem}.message{white-space:pre-wrap}</style></head><body>${body}<p class="muted">Spirit Tours</p></body></html>`;
}

function notFoundPage(ctx: Koa.Context): void {
  const language: Language = ctx.acceptsLanguages('en', 'es') === 'es' ? 'es' : 'en';
  const t = TEXT[language];
  page(ctx, 404, language, t.notFoundTitle, `<h1>${escape(t.notFoundTitle)}</h1><div class="card"><p>${escape(t.notFound)}</p></div>`);
}

function noticeCard(language: Language, reference: string, message: string): string {
  const t = TEXT[language];
  return `<div class="card"><p class="muted">${escape(t.intro)} ${escape(reference)}</p><p class="message">${escape(message)}</p></div>`;
}

const audit = (ctx: Koa.Context, incidentId: string, reference: string) =>
  recordAudit(ctx.knex, { action: 'crisis.acknowledged', entityType: 'crisis_incident', entityId: incidentId, data: { reference }, requestId: ctx.state.requestId, ip: ctx.ip });

export function mountCrisisPages(router: Router): void {
  router.get('/a/:token', async (ctx: Koa.Context) => {
    const notice = await findCrisisNotice(ctx.knex, String(ctx.params.token));
    if (!notice) return notFoundPage(ctx);
    const t = TEXT[notice.language];
    page(ctx, 200, notice.language, t.title, `<h1>${escape(t.title)}</h1>${noticeCard(notice.language, notice.reference, notice.message)}
${notice.acknowledgedAt ? `<p class="notice" role="status">${escape(t.already)}</p>` : `<form method="post"><button type="submit">${escape(t.button)}</button></form>`}
<p class="muted">${escape(t.help)}</p>`);
  });
  router.post('/a/:token', async (ctx: Koa.Context) => {
    const ack = await acknowledgeCrisisNotice(ctx.knex, String(ctx.params.token));
    if (!ack) return notFoundPage(ctx);
    if (ack.first) await audit(ctx, ack.incidentId, ack.reference);
    const t = TEXT[ack.language];
    page(ctx, 200, ack.language, t.title, `<h1>${escape(t.title)}</h1><p class="notice" role="status">${escape(ack.first ? t.thanks : t.already)}</p>${noticeCard(ack.language, ack.reference, ack.message)}`);
  });
}

const tokenParams = z.object({ token: z.string().max(100) });

export const crisisRoutes = [
  route({
    method: 'POST', path: '/api/v1/crisis/acks/{token}', operationId: 'acknowledgeCrisisNotice', tag: 'Crisis', auth: 'public',
    summary: 'A traveller acknowledges a crisis notice (the token from its link); idempotent',
    params: tokenParams,
    responses: {
      200: { description: 'Acknowledged (now or before)', schema: z.object({ object: z.literal('crisis_acknowledgement'), incidentId: z.string(), reference: z.string(), acknowledgedAt: z.string(), first: z.boolean() }) },
      404: { description: 'The token names no notice' },
    },
    handler: async (ctx, { params }) => {
      const ack = await acknowledgeCrisisNotice(ctx.knex, params.token);
      if (!ack) throw new Problem(404, 'resource_missing', 'This acknowledgement link names no notice.', { param: 'token' });
      if (ack.first) await audit(ctx, ack.incidentId, ack.reference);
      return { body: { object: 'crisis_acknowledgement', incidentId: ack.incidentId, reference: ack.reference, acknowledgedAt: ack.acknowledgedAt, first: ack.first } };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/crisis/incidents/{incidentId}', operationId: 'getCrisisIncident', tag: 'Crisis', auth: ['admin', 'operator'],
    summary: 'Who was told about an incident, who acknowledged, and what was escalated to the operators',
    params: z.object({ incidentId: z.string().min(1).max(120) }),
    responses: {
      200: { description: 'The incident\'s notices and escalations', schema: z.object({
        object: z.literal('crisis_incident'), incidentId: z.string(), notified: z.int(), acknowledged: z.int(),
        notices: z.array(z.object({ bookingId: z.string(), reference: z.string(), contactName: z.string(), channel: z.string(), recipient: z.string(), notifiedAt: z.string(), acknowledgedAt: z.string().nullable(), escalatedAt: z.string().nullable() })),
        escalations: z.array(z.object({ id: z.string(), at: z.string(), notified: z.int(), silent: z.array(z.record(z.string(), z.unknown())), recipients: z.array(z.string()) })),
      }) },
    },
    handler: async (ctx, { params }) => ({ body: { object: 'crisis_incident', ...(await crisisIncidentView(ctx.knex, params.incidentId)) } }),
  }),
];
