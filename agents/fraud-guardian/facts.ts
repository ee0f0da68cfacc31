/**
 * A payment attempt's facts, in one SQL statement: the booking and its departure, the branch's
 * rule overrides, the attempts in the velocity window per customer, card and address, earlier
 * declines, the customer's and the tour's usual payment, and what was recorded for this attempt
 * already (a retried check answers that). Shared by the saga's `fraud.check` and the agent's
 * `fraud.paymentFacts` tool.
 */
import type { Knex } from 'knex';
import { DEFAULT_FRAUD_RULES, mergeFraudRules, phoneCountries, type FraudRules, type IpCountryTable, type PaymentFacts } from './core';

export interface AttemptInput {
  bookingId: string;
  attemptKey: string;
  provider: string;
  /** `<provider>:<payment method>`: the card, as far as we can tell it apart. */
  cardKey: string;
  cardCountry: string | null;
  clientIp: string | null;
  amountMinor: number;
  currency: string;
}

export interface GatheredAttempt {
  facts: PaymentFacts;
  rules: FraudRules;
  problems: string[];
  booking: { id: string; reference: string; branchId: string; customerId: string | null; tourId: string; paxCount: number; status: string };
  /** What the check answered for this attempt before (a retry), if anything. */
  recorded: unknown | null;
}

const SETTLED = `('captured', 'refunded', 'partially_refunded')`;

/**
 * `alreadyRecorded`: the attempt has its own row (a re-score): it is counted by the queries, not
 * added. `deploymentRules`: FRAUD_RULES, under the branch's row.
 */
export async function gatherPaymentFacts(
  knex: Knex, a: AttemptInput, opts: { deploymentRules?: unknown; ipTable: IpCountryTable; now?: Date; alreadyRecorded?: boolean },
): Promise<GatheredAttempt | null> {
  const base = mergeFraudRules(DEFAULT_FRAUD_RULES, opts.deploymentRules);
  const ip = a.clientIp;
  const { rows } = await knex.raw(`
    with b as (
      select b.id, b.reference, b.branch_id, b.customer_id, b.contact, b.pax_count, b.status, d.starts_at, d.tour_id, fr.rules as branch_rules,
             now() - make_interval(mins => coalesce(case when jsonb_typeof(fr.rules->'velocity'->'windowMinutes') = 'number' then (fr.rules->'velocity'->>'windowMinutes')::int end, ?::int)) as since
      from bookings b join departures d on d.id = b.departure_id left join fraud_rules fr on fr.branch_id = b.branch_id
      where b.id = ?
    )
    select b.*,
      (select r.output from payment_attempts pa join agent_runs r on r.id = pa.agent_run_id where pa.booking_id = b.id and pa.attempt_key = ?) as recorded,
      (select count(*) from payment_attempts pa where b.customer_id is not null and pa.customer_id = b.customer_id and pa.created_at > b.since)::int as customer_attempts,
      (select count(*) from payment_attempts pa where pa.card_key = ? and pa.created_at > b.since)::int as card_attempts,
      (select count(*) from payment_attempts pa where ?::inet is not null and pa.client_ip = ?::inet and pa.created_at > b.since)::int as ip_attempts,
      (select count(*) from (
          select pa.booking_id, pa.attempt_key from payment_attempts pa where b.customer_id is not null and pa.customer_id = b.customer_id and pa.created_at > b.since
          union select pa.booking_id, pa.attempt_key from payment_attempts pa where pa.card_key = ? and pa.created_at > b.since
          union select pa.booking_id, pa.attempt_key from payment_attempts pa where pa.booking_id = b.id
        ) x join payments p on p.idempotency_key = 'booking-' || x.booking_id || '/' || x.attempt_key
        where p.status = 'failed' and p.created_at > b.since)::int as declines,
      cu.median as customer_median, cu.n as customer_payments, tu.median as tour_median, tu.n as tour_payments
    from b
    left join lateral (
      select percentile_cont(0.5) within group (order by p.amount_minor) as median, count(*)::int as n
      from payments p join bookings pb on pb.id = p.booking_id
      where b.customer_id is not null and pb.customer_id = b.customer_id and pb.id <> b.id and p.status in ${SETTLED}
    ) cu on true
    left join lateral (
      select percentile_cont(0.5) within group (order by p.amount_minor) as median, count(*)::int as n
      from departures td join bookings tb on tb.departure_id = td.id join payments p on p.booking_id = tb.id
      where td.tour_id = b.tour_id and tb.id <> b.id and p.status in ${SETTLED} and p.created_at > now() - interval '365 days'
    ) tu on true`,
  [base.rules.velocity.windowMinutes, a.bookingId, a.attemptKey, a.cardKey, ip, ip, a.cardKey]);
  const r = rows[0];
  if (!r) return null;
  const merged = mergeFraudRules(base.rules, r.branch_rules);
  const self = opts.alreadyRecorded ? 0 : 1;
  const now = opts.now ?? new Date();
  const phone = phoneCountries(r.contact?.phone);
  const facts: PaymentFacts = {
    bookingId: a.bookingId,
    attemptKey: a.attemptKey,
    amountMinor: a.amountMinor,
    currency: a.currency,
    leadTimeHours: Math.round(((+new Date(r.starts_at) - +now) / 3_600_000) * 10) / 10,
    countries: { card: a.cardCountry, phone: phone[0] ?? null, ip: ip ? opts.ipTable.lookup(ip) : null },
    phoneCountries: phone,
    attempts: {
      customer: r.customer_id ? r.customer_attempts + self : 0,
      card: r.card_attempts + self,
      ip: ip ? r.ip_attempts + self : 0,
    },
    declines: r.declines,
    usual: {
      customerMinor: r.customer_median === null ? null : Math.round(Number(r.customer_median)),
      customerPayments: Number(r.customer_payments ?? 0),
      tourMinor: r.tour_median === null ? null : Math.round(Number(r.tour_median)),
      tourPayments: Number(r.tour_payments ?? 0),
    },
  };
  return {
    facts,
    rules: merged.rules,
    problems: [...base.problems.map((p) => `FRAUD_RULES ${p}`), ...merged.problems.map((p) => `fraud_rules of the branch: ${p}`)],
    booking: { id: r.id, reference: r.reference, branchId: r.branch_id, customerId: r.customer_id, tourId: r.tour_id, paxCount: r.pax_count, status: r.status },
    recorded: r.recorded ?? null,
  };
}
