/**
 * Campaign activities. The exactly-once rule lives here and in messaging/claim-send.ts: a
 * batch's recipients are rendered first, then claimed (status 'claimed', committed) one
 * provider call at a time, just before the call, and the provider's answer is written after it.
 * A worker killed before the claim commits leaves the row pending (sent later, once); killed
 * after the answer is written, nothing is left to do; killed in between, the row stays 'claimed'
 * and becomes 'unknown': it is never sent again, and the provider's events (carrying our send
 * id) settle it as sent or failed. A call that was not handed over (throttled, refused) gives
 * its claims back; an ambiguous one (a timeout or reset after the request was written) is
 * 'unknown' at once.
 */
import type { Knex } from 'knex';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { applySegment, sendable, type SegmentNode } from '../models/segments';
import { campaignCounts, reconcileUnknownSends } from '../models/campaigns';
import type { EmailAddress, EmailMessage, EmailProvider } from '../integrations/email/types';
import { signUnsubscribeToken, unsubscribeUrl } from '../integrations/email/links';
import { claimAndSend, type ClaimStore } from './messaging/claim-send';

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
  /** Rows this phase could send but for their send window (an A/B test's rest, waiting for the winner, is not counted). */
  waitingForWindow: number;
  retryAfterMs: number;
}

/** Claims over campaign_recipients: pending → claimed → sent / failed / unknown; released back to pending. */
export function campaignClaims(knex: Knex, campaignId: string, contactBySendId: Map<string, string>): ClaimStore {
  return {
    async claim(sendIds) {
      // By the primary key (campaign, contact), one array parameter: the claim is on every batch's path.
      const rows = await knex('campaign_recipients').where({ campaign_id: campaignId, status: 'pending' })
        .whereRaw('contact_id = any(?::uuid[])', [sendIds.map((id) => contactBySendId.get(id) as string)])
        .update({ status: 'claimed', claimed_at: knex.fn.now() }).returning('send_id');
      return new Set(rows.map((r) => r.send_id as string));
    },
    async release(releases) {
      await knex('campaign_recipients').where({ campaign_id: campaignId, status: 'claimed' }).whereRaw('send_id = any(?::uuid[])', [releases.map((r) => r.sendId)])
        .update({ status: 'pending', claimed_at: null });
    },
    async settle(settlements) {
      const sent = settlements.filter((s) => s.status === 'sent');
      const other = settlements.filter((s) => s.status !== 'sent');
      await knex.transaction(async (trx) => {
        if (sent.length) {
          await trx.raw(`update campaign_recipients r set status = 'sent', sent_at = now(), provider_message_id = v.ref
            from (select unnest(?::uuid[]) as id, unnest(?::text[]) as ref) v where r.send_id = v.id and r.status = 'claimed'`,
          [sent.map((x) => x.sendId), sent.map((x) => x.providerMessageId ?? '')]);
        }
        if (other.length) {
          await trx.raw(`update campaign_recipients r set status = v.status, error = v.error
            from (select unnest(?::uuid[]) as id, unnest(?::text[]) as status, unnest(?::text[]) as error) v where r.send_id = v.id and r.status = 'claimed'`,
          [other.map((x) => x.sendId), other.map((x) => x.status), other.map((x) => (x.error ?? '').slice(0, 250))]);
        }
      });
    },
  };
}

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
      const inWindow = `extract(hour from now() at time zone coalesce(c.timezone, 'UTC')) >= ? and extract(hour from now() at time zone coalesce(c.timezone, 'UTC')) < ?`;
      const q = knex('campaign_recipients as r').join('contacts as c', 'c.id', 'r.contact_id')
        .where({ 'r.campaign_id': input.campaignId, 'r.status': 'pending' }).whereNot('r.variant', '*')
        .orderBy([{ column: 'r.variant' }, { column: 'r.contact_id' }]).limit(batchSize) // the pending index's order: no sort
        .select('r.contact_id', 'r.email', 'r.variant', 'r.send_id', 'c.first_name', 'c.last_name', 'c.language', 'c.timezone',
          knex.raw(`(exists (select 1 from suppressions s where s.email = lower(c.email))
            or not exists (select 1 from contact_consents cc where cc.contact_id = c.id and cc.channel = 'email' and cc.status = 'granted')) as blocked`));
      if (window) q.whereRaw(inWindow, [window.startHour, window.endHour]);
      const rows = await q;
      // Consent or suppression can change between resolve and send: checked again now.
      const blocked = rows.filter((r) => r.blocked).map((r) => r.send_id);
      if (blocked.length) {
        result.suppressed = await knex('campaign_recipients').where({ campaign_id: input.campaignId, status: 'pending' }).whereIn('send_id', blocked).update({ status: 'suppressed' });
      }
      const ready = rows.filter((r) => !r.blocked);

      if (ready.length) {
        // Rendered before anything is claimed: a template that fails to render strands nobody.
        const variants = new Map((c.variants as Array<{ name: string; templateId: string }>).map((v) => [v.name, v.templateId]));
        const rendered = new Map<string, RenderedTemplate>();
        for (const name of new Set(ready.map((r) => r.variant as string))) {
          try {
            rendered.set(name, await deps.renderTemplate(variants.get(name)!));
          } catch (err) {
            throw ApplicationFailure.retryable(`variant ${name} of campaign ${input.campaignId} does not render (nothing was claimed): ${(err as Error).message}`, 'TemplateRender');
          }
        }
        const messages: EmailMessage[] = ready.map((r) => {
          const t = rendered.get(r.variant)!;
          return {
            sendId: r.send_id, kind: t.kind, to: { email: r.email, name: [r.first_name, r.last_name].filter(Boolean).join(' ') || undefined },
            from: deps.from, subject: t.subject, html: t.html, text: t.text, categories: ['campaign', `campaign-${input.campaignId}`, `variant-${r.variant}`],
            // Raw values: the provider escapes them for the HTML part only.
            substitutions: { first_name: r.first_name ?? '', last_name: r.last_name ?? '', email: r.email },
            unsubscribeUrl: unsubscribeUrl(deps.publicUrl, signUnsubscribeToken(r.contact_id, deps.linkSecret)),
          };
        });
        const contacts = new Map(ready.map((r) => [r.send_id as string, r.contact_id as string]));
        const sent = await claimAndSend(deps.provider(), messages, campaignClaims(knex, input.campaignId, contacts), { heartbeat, configurationErrors: 'release' });
        if (sent.configurationError) throw ApplicationFailure.nonRetryable(sent.configurationError, 'EmailConfiguration');
        result.claimed = sent.claimed;
        result.sent = sent.sent;
        result.failed = sent.failed;
        result.unknown += sent.unknown;
        result.retryAfterMs = sent.retryAfterMs;
      }
      // A full batch leaves more to do: counting what is left (tens of ms over a big campaign, every
      // batch) waits until a batch comes back short. Two counts, each from its partial index.
      if (rows.length < batchSize) {
        const { rows: [{ remaining }] } = await knex.raw(`select (select count(*) from campaign_recipients where campaign_id = :id and status = 'pending')
          + (select count(*) from campaign_recipients where campaign_id = :id and status = 'claimed') as remaining`, { id: input.campaignId });
        result.remaining = Number(remaining);
        if (result.claimed === 0 && window && result.remaining > 0) {
          // Only rows this phase may send wait for their window: during an A/B test, the rest
          // ('*', waiting for the winner) must not keep the test from ending.
          const [{ n }] = await knex('campaign_recipients').where({ campaign_id: input.campaignId, status: 'pending' }).whereNot('variant', '*').count<{ n: number }[]>('* as n');
          result.waitingForWindow = Number(n);
        }
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
    async settleCampaign(input: { campaignId: string; status: 'sent' | 'cancelled'; ratePerSecond?: number }) {
      await reconcileUnknownSends(knex, input.campaignId);
      await knex('campaigns').where({ id: input.campaignId }).update({
        status: input.status, finished_at: knex.fn.now(), updated_at: knex.fn.now(),
        ...(input.ratePerSecond ? { sent_rate_per_second: Math.round(input.ratePerSecond) } : {}),
      });
      return campaignCounts(knex, input.campaignId);
    },
  };
}

export type CampaignActivities = ReturnType<typeof createCampaignActivities>;
