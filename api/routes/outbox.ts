/**
 * The development outbox, as pages: every email the platform would have sent when no real
 * provider is configured (EMAIL_PROVIDER=outbox, the default), newest first. Not served in
 * production. Staff only would be nicer; it is local-development data, and NODE_ENV=production
 * turns it off entirely.
 */
import type Koa from 'koa';
import type Router from '@koa/router';
import { config } from '../../platform/config';
import { getOutboxMessage, listOutbox } from '../../integrations/email/outbox';
import { emailProviderName } from '../../integrations/email';
import { Problem } from '../http/problem';

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function mountOutboxPages(router: Router): void {
  if (config.isProduction) return;
  router.get('/outbox', async (ctx: Koa.Context) => {
    ctx.state.route = '/outbox';
    const messages = await listOutbox({ dataDir: config.dataDir, limit: 200 });
    const active = emailProviderName(process.env) === 'outbox';
    ctx.type = 'html';
    ctx.body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Outbox</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem}td,th{padding:.3rem .6rem;border-bottom:1px solid #ddd;text-align:left}.note{color:#8a4b00}</style></head><body>
<h1>Development outbox</h1>
<p class="note">${active ? 'Nothing here was sent: EMAIL_PROVIDER is "outbox" (the default). Configure SendGrid or SMTP to send for real.' : `EMAIL_PROVIDER is "${escape(emailProviderName(process.env))}": new mail goes there; this page shows what the outbox kept earlier.`}</p>
<table><tr><th>stored</th><th>to</th><th>subject</th><th>kind</th></tr>
${messages.map((m) => `<tr><td>${escape(m.storedAt)}</td><td>${escape(m.to.email)}</td><td><a href="/outbox/${encodeURIComponent(m.sendId)}">${escape(m.subject)}</a></td><td>${m.kind}</td></tr>`).join('\n')}
</table></body></html>`;
  });
  router.get('/outbox/:sendId', async (ctx: Koa.Context) => {
    ctx.state.route = '/outbox/{sendId}';
    const message = await getOutboxMessage({ dataDir: config.dataDir, sendId: String(ctx.params.sendId) });
    if (!message) throw new Problem(404, 'resource_missing', 'No such message in the outbox.');
    if (ctx.query.part === 'html') {
      // The message's own HTML, sandboxed: no scripts, no same-origin access.
      ctx.set('Content-Security-Policy', "sandbox; default-src 'none'; img-src * data:; style-src 'unsafe-inline'");
      ctx.type = 'html';
      ctx.body = message.html;
      return;
    }
    ctx.type = 'html';
    ctx.body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(message.subject)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem}pre{white-space:pre-wrap;background:#f6f6f6;padding:1rem}iframe{width:100%;height:60vh;border:1px solid #ccc}</style></head><body>
<p><a href="/outbox">← outbox</a> · <strong>not sent</strong> (development outbox)</p>
<h1>${escape(message.subject)}</h1>
<p>To ${escape(message.to.email)} · from ${escape(message.from.email)} · ${escape(message.storedAt)}</p>
<pre>${escape(Object.entries(message.headers).map(([k, v]) => `${k}: ${v}`).join('\n'))}</pre>
<iframe sandbox src="/outbox/${encodeURIComponent(message.sendId)}?part=html"></iframe>
<h2>Plain text</h2><pre>${escape(message.text)}</pre></body></html>`;
  });
}
