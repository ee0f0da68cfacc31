/**
 * A campaign's recipients, counted and settled: the queries shared by the campaign activities
 * and the campaigns API (which reads them; it never runs activity code).
 */
import type { Knex } from 'knex';

/** Unknown sends that the provider's events show as delivered (or bounced) are settled so. */
export async function reconcileUnknownSends(knex: Knex, campaignId?: string): Promise<number> {
  const result = await knex.raw(`update campaign_recipients r set status = case when exists (select 1 from email_events e where e.send_id = r.send_id and e.type in ('bounce', 'dropped'))
      then 'failed' else 'sent' end
    where r.status = 'unknown' ${campaignId ? 'and r.campaign_id = ?' : ''}
      and exists (select 1 from email_events e where e.send_id = r.send_id)`, campaignId ? [campaignId] : []);
  return result.rowCount ?? 0;
}

export async function campaignCounts(knex: Knex, campaignId: string) {
  const rows = await knex('campaign_recipients').where({ campaign_id: campaignId }).groupBy('status').select('status', knex.raw('count(*)::int as n'));
  const n = (s: string) => rows.find((r) => r.status === s)?.n ?? 0;
  return {
    audience: rows.reduce((sum, r) => sum + r.n, 0), sent: n('sent'), failed: n('failed'), suppressed: n('suppressed'), unknown: n('unknown'),
    remaining: n('pending') + n('claimed'),
  };
}
