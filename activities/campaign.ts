/**
 * Campaign activities. The exactly-once rule lives here: a recipient row is claimed (status
 * 'claimed') in its own committed transaction before the provider call, and the provider's
 * answer is written after it. A worker killed before the claim commits leaves the row pending
 * (sent later, once); killed after the provider's answer is written, nothing is left to do;
 * killed in between, the row stays 'claimed' and becomes 'unknown': it is never sent again,
 * and the provider's events (carrying our send id) settle it as sent or failed.
 */
import type { Knex } from 'knex';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { applySegment, sendable, type SegmentNode } from '../models/segments';
import { campaignCounts, reconcileUnknownSends } from '../models/campaigns';
import type { EmailAddress, EmailMessage, EmailProvider } from '../integrations/email/types';
import { EmailConfigurationError } from '../integrations/email/types';
import { signUnsubscribeToken, unsubscribeUrl } from '../integrations/email/links';

export interface RenderedTemplate { subject: string; html: string; text: string; kind: 'marketing' | 'transactional' }

export interface CampaignActivityDeps {
  knex: Knex;
  provider: () => EmailProvider;
  /** A template rendered once per batch with `{{variables}}` left for per-recipient substitution. */
  renderTemplate: (templateId: string) => Promise<RenderedTemplate>;
  publicUrl: string;
  linkSecret: string;
  from: EmailAddress;
  batchSize?: number;
  /** A claim older than this was in flight when its worker died (longer than sendBatch's timeout). */
  staleClaimSeconds?: number;
}

export interface BatchResult {
  claimed: number;
  sent: number;
  failed: number;
  suppressed: number;
  unknown: number;
  /** Pending or claimed rows left; null after a full batch (certainly more left: the workflow subtracts what this batch settled). */
  remaining: number | null;
  waitingForWindow: number;
  retryAfterMs: number;
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function createCampaignActivities(deps: CampaignActivityDeps) {
  const { knex } = deps;
  const batchSize = deps.batchSize ?? 1000;

  async function campaignRow(campaignId: string) {
    const row = await knex('campaigns').where({ id: campaignId }).first();
    if (!row) throw ApplicationFailure.nonRetryable(`campaign ${campaignId} does not exist`, 'CampaignMissing');
    return row;
  }

  return {
    async loadCampaign(campaignId: string) {
      const c = await campaignRow(campaignId);
      return {
        scheduledAt: c.scheduled_at ? new Date(c.scheduled_at).toISOString() : null,
        ratePerSecond: c.rate_per_second as number,
        abTest: (c.ab_test ?? null) as { metric: 'open' | 'click'; testPercent: number; waitHours: number } | null,
      };
    },

    async setCampaignStatus(input: { campaignId: string; status: string }): Promise<void> {
      await knex('campaigns').where({ id: input.campaignId }).whereNotIn('status', ['sent', 'cancelled']).update({
        status: input.status, updated_at: knex.fn.now(), ...(input.status === 'sending' ? { started_at: knex.raw('coalesce(started_at, now())') } : {}),
      });
    },

    /** The audience at send time: the segment ∩ consented ∖ suppressed; A/B sample assigned by a stable hash. */
    async resolveAudience(input: { campaignId: string }): Promise<{ audience: number; remaining: number }> {
      const c = await campaignRow(input.campaignId);
      const segment = await knex('segments').where({ id: c.segment_id }).first('rules');
      const variants = (c.variants as Array<{ name: string }>).map((v) => v.name);
      const ab = c.ab_test as { testPercent: number } | null;
      // Without a test everyone gets the first variant; with one, testPercent% is split between
      // the variants and the rest waits for the winner ('*').
      const variantSql = ab
        ? knex.raw(`case when abs(hashtext(c.id::text)) % 100 < ? then (?::text[])[1 + abs(hashtext(c.id::text || ?)) % ?] else '*' end`,
          [ab.testPercent, variants, input.campaignId, variants.length])
        : knex.raw('?::text', [variants[0]]);
      const audience = sendable(applySegment(knex, knex('contacts as c'), segment.rules as SegmentNode))
        .select(knex.raw('?::uuid', [input.campaignId]), 'c.id', knex.raw('lower(c.email)'), variantSql);
      await knex.raw('insert into campaign_recipients (campaign_id, contact_id, email, variant) ? on conflict do nothing', [audience]);
      const [{ count }] = await knex('campaign_recipients').where({ campaign_id: input.campaignId }).count<{ count: number }[]>('* as count');
      return { audience: Number(count), remaining: Number(count) };
    },

    async sendBatch(input: { campaignId: string; onlyTestVariants: boolean }): Promise<BatchResult> {
      const heartbeat = () => { try { Context.current().heartbeat(); } catch { /* called outside an activity (tests) */ } };
      heartbeat();
      const c = await campaignRow(input.campaignId);
      const result: BatchResult = { claimed: 0, sent: 0, failed: 0, suppressed: 0, unknown: 0, remaining: 0, waitingForWindow: 0, retryAfterMs: 0 };

      // Claims whose worker died mid-call: unknown, settled later from the provider's events.
      const stale = await knex('campaign_recipients').where({ campaign_id: input.campaignId, status: 'claimed' })
        .where('claimed_at', '<', knex.raw(`now() - make_interval(secs => ?)`, [deps.staleClaimSeconds ?? 150])).update({ status: 'unknown' });
      result.unknown = stale;

      const window = c.send_window as { startHour: number; endHour: number } | null;
      const claimed = await knex.transaction(async (trx) => {
        const q = trx('campaign_recipients as r').join('contacts as c', 'c.id', 'r.contact_id')
          .where({ 'r.campaign_id': input.campaignId, 'r.status': 'pending' }).whereNot('r.variant', '*')
          .orderBy([{ column: 'r.variant' }, { column: 'r.contact_id' }]).limit(batchSize).forUpdate('r').skipLocked() // the pending index's order: no sort
          .select('r.contact_id', 'r.email', 'r.variant', 'r.send_id', 'c.first_name', 'c.last_name', 'c.language', 'c.timezone',
            trx.raw(`(exists (select 1 from suppressions s where s.email = lower(c.email))
              or not exists (select 1 from contact_consents cc where cc.contact_id = c.id and cc.channel = 'email' and cc.status = 'granted')) as blocked`));
        if (window) {
          q.whereRaw(`extract(hour from now() at time zone coalesce(c.timezone, 'UTC')) >= ? and extract(hour from now() at time zone coalesce(c.timezone, 'UTC')) < ?`, [window.startHour, window.endHour]);
        }
        const rows = await q;
        // Consent or suppression can change between resolve and send: checked again at claim time.
        const blocked = rows.filter((r) => r.blocked).map((r) => r.contact_id);
        const ok = rows.filter((r) => !r.blocked);
        if (blocked.length) await trx('campaign_recipients').where({ campaign_id: input.campaignId }).whereIn('contact_id', blocked).update({ status: 'suppressed' });
        if (ok.length) await trx('campaign_recipients').where({ campaign_id: input.campaignId }).whereIn('contact_id', ok.map((r) => r.contact_id)).update({ status: 'claimed', claimed_at: trx.fn.now() });
        result.suppressed = blocked.length;
        return ok;
      });
      result.claimed = claimed.length;

      if (claimed.length) {
        const variants = new Map((c.variants as Array<{ name: string; templateId: string }>).map((v) => [v.name, v.templateId]));
        const rendered = new Map<string, RenderedTemplate>();
        for (const name of new Set(claimed.map((r) => r.variant as string))) rendered.set(name, await deps.renderTemplate(variants.get(name)!));
        const messages: EmailMessage[] = claimed.map((r) => {
          const t = rendered.get(r.variant)!;
          return {
            sendId: r.send_id, kind: t.kind, to: { email: r.email, name: [r.first_name, r.last_name].filter(Boolean).join(' ') || undefined },
            from: deps.from, subject: t.subject, html: t.html, text: t.text, categories: ['campaign', `campaign-${input.campaignId}`, `variant-${r.variant}`],
            substitutions: { first_name: escapeHtml(r.first_name ?? ''), last_name: escapeHtml(r.last_name ?? ''), email: escapeHtml(r.email) },
            unsubscribeUrl: unsubscribeUrl(deps.publicUrl, signUnsubscribeToken(r.contact_id, deps.linkSecret)),
          };
        });
        const provider = deps.provider();
        for (let i = 0; i < messages.length; i += provider.maxBatch) {
          const chunk = messages.slice(i, i + provider.maxBatch);
          heartbeat();
          let answers;
          try {
            answers = await provider.send(chunk);
          } catch (err) {
            // The provider took nothing (network error or 5xx before acceptance): these go back
            // in line, as do the chunks not tried yet, and the activity is retried.
            await knex('campaign_recipients').whereIn('send_id', messages.slice(i).map((m) => m.sendId)).where({ status: 'claimed' }).update({ status: 'pending', claimed_at: null });
            if (err instanceof EmailConfigurationError) throw ApplicationFailure.nonRetryable(err.message, 'EmailConfiguration');
            throw err;
          }
          const by = { sent: [] as Array<{ id: string; ref?: string }>, failed: [] as Array<{ id: string; error: string }>, retry: [] as string[] };
          for (const a of answers) {
            if (a.status === 'accepted') by.sent.push({ id: a.sendId, ref: a.providerMessageId });
            else if (a.status === 'rejected') by.failed.push({ id: a.sendId, error: a.error ?? 'rejected' });
            else {
              by.retry.push(a.sendId);
              result.retryAfterMs = Math.max(result.retryAfterMs, a.retryAfterMs ?? 1000);
            }
          }
          await knex.transaction(async (trx) => {
            if (by.sent.length) {
              await trx.raw(`update campaign_recipients r set status = 'sent', sent_at = now(), provider_message_id = v.ref
                from (select unnest(?::uuid[]) as id, unnest(?::text[]) as ref) v where r.send_id = v.id and r.status = 'claimed'`,
              [by.sent.map((s) => s.id), by.sent.map((s) => s.ref ?? '')]);
            }
            if (by.failed.length) {
              await trx.raw(`update campaign_recipients r set status = 'failed', error = v.error
                from (select unnest(?::uuid[]) as id, unnest(?::text[]) as error) v where r.send_id = v.id and r.status = 'claimed'`,
              [by.failed.map((f) => f.id), by.failed.map((f) => f.error.slice(0, 250))]);
            }
            if (by.retry.length) await trx('campaign_recipients').whereIn('send_id', by.retry).where({ status: 'claimed' }).update({ status: 'pending', claimed_at: null });
          });
          result.sent += by.sent.length;
          result.failed += by.failed.length;
          if (by.retry.length) {
            // Throttled: the rest of this batch goes back in line too, for the next batch after the pause.
            const rest = messages.slice(i + chunk.length).map((m) => m.sendId);
            if (rest.length) await knex('campaign_recipients').whereIn('send_id', rest).where({ status: 'claimed' }).update({ status: 'pending', claimed_at: null });
            break;
          }
        }
      }

      // A full batch leaves more to do: counting what is left (tens of ms over a big campaign, every
      // batch) waits until a batch comes back short. Two counts, each from its partial index.
      if (claimed.length === 0 || claimed.length + result.suppressed < batchSize) {
        const { rows: [{ remaining }] } = await knex.raw(`select (select count(*) from campaign_recipients where campaign_id = :id and status = 'pending')
          + (select count(*) from campaign_recipients where campaign_id = :id and status = 'claimed') as remaining`, { id: input.campaignId });
        result.remaining = Number(remaining);
        if (result.claimed === 0 && window && result.remaining > 0) result.waitingForWindow = result.remaining;
      } else {
        result.remaining = null;
      }
      return result;
    },

    /** The variant with the best open (or click) rate among the sample wins the rest of the audience. */
    async chooseWinner(input: { campaignId: string }): Promise<string> {
      const c = await campaignRow(input.campaignId);
      const eventType = (c.ab_test as { metric: 'open' | 'click' }).metric;
      const rates = await knex('campaign_recipients as r').where({ 'r.campaign_id': input.campaignId }).whereNot('r.variant', '*').where('r.status', 'sent')
        .groupBy('r.variant')
        .select('r.variant', knex.raw('count(*)::int as sent'),
          knex.raw('count(*) filter (where exists (select 1 from email_events e where e.send_id = r.send_id and e.type = ?))::int as engaged', [eventType]));
      const names = (c.variants as Array<{ name: string }>).map((v) => v.name);
      const rate = (v: string) => { const row = rates.find((x) => x.variant === v); return row && row.sent ? row.engaged / row.sent : 0; };
      const winner = names.reduce((best, v) => (rate(v) > rate(best) ? v : best), names[0]);
      await knex.transaction(async (trx) => {
        await trx('campaign_recipients').where({ campaign_id: input.campaignId, variant: '*' }).update({ variant: winner });
        await trx('campaigns').where({ id: input.campaignId }).update({ winner_variant: winner, updated_at: trx.fn.now() });
      });
      return winner;
    },

    /** The end: unknown sends settled from events where possible, the campaign's final status and counts. */
    async settleCampaign(input: { campaignId: string; status: 'sent' | 'cancelled' }) {
      await reconcileUnknownSends(knex, input.campaignId);
      await knex('campaigns').where({ id: input.campaignId }).update({ status: input.status, finished_at: knex.fn.now(), updated_at: knex.fn.now() });
      return campaignCounts(knex, input.campaignId);
    },
  };
}

export type CampaignActivities = ReturnType<typeof createCampaignActivities>;
