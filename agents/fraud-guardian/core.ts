/**
 * FraudGuardian's analytic core: a payment attempt's facts in, a score from 0 to 100 and its
 * signals out. Pure and deterministic (no clock, no I/O): the booking saga's `fraud.check`
 * activity and the agent's core-mode run both call `scorePayment` with facts they gathered.
 *
 * Signals (points when they trip, all configurable, see DEFAULT_FRAUD_RULES):
 * - velocity: attempts in the window per customer, per card and per client address, and earlier
 *   declines; these are what a card tester or a stolen card looks like;
 * - country mismatch: the card's country against the contact phone's and the address's;
 * - amount: far above the customer's usual payment, or the tour's;
 * - lead time: departure very soon (a last-minute purchase is the classic resale pattern).
 * Amount and lead time alone add up to less than the review threshold by default: they only
 * add weight to a velocity or country signal.
 */
import { BlockList, isIP } from 'node:net';

export interface PaymentFacts {
  bookingId: string;
  attemptKey: string;
  amountMinor: number;
  currency: string;
  /** Hours from the check to the departure (negative: already departed). */
  leadTimeHours: number;
  countries: { card: string | null; phone: string | null; ip: string | null };
  /** Countries the phone's calling code may belong to (+1: the US, Canada and the Caribbean). */
  phoneCountries: string[];
  /** Attempts in the velocity window, this one included. */
  attempts: { customer: number; card: number; ip: number };
  /** Declined payments of this customer, card or booking in the velocity window. */
  declines: number;
  usual: { customerMinor: number | null; customerPayments: number; tourMinor: number | null; tourPayments: number };
}

export interface FraudRules {
  /** Score from which a payment waits for a person, and from which it is refused. */
  reviewAt: number;
  blockAt: number;
  velocity: {
    windowMinutes: number;
    maxPerCustomer: number; maxPerCard: number; maxPerIp: number;
    customerPoints: number; cardPoints: number; ipPoints: number;
    /** Declines allowed before they count (one mistyped card is normal), then points each, capped. */
    declinesAllowed: number; pointsPerDecline: number; declinePointsCap: number;
  };
  countries: { cardVsPhone: number; cardVsIp: number; phoneVsIp: number };
  amount: { factor: number; customerPoints: number; customerMinPayments: number; tourPoints: number; tourMinPayments: number };
  leadTime: { withinHours: number; points: number };
  /** How long a review waits (business hours) and what happens when nobody decides. */
  review: { timeoutHours: number; onTimeout: 'approve' | 'reject' };
}

export const DEFAULT_FRAUD_RULES: FraudRules = {
  reviewAt: 30,
  blockAt: 80,
  velocity: {
    windowMinutes: 60,
    maxPerCustomer: 5, maxPerCard: 4, maxPerIp: 10,
    customerPoints: 20, cardPoints: 25, ipPoints: 15,
    declinesAllowed: 1, pointsPerDecline: 15, declinePointsCap: 30,
  },
  countries: { cardVsPhone: 20, cardVsIp: 25, phoneVsIp: 10 },
  amount: { factor: 3, customerPoints: 10, customerMinPayments: 2, tourPoints: 10, tourMinPayments: 5 },
  leadTime: { withinHours: 48, points: 5 },
  review: { timeoutHours: 24, onTimeout: 'reject' },
};

export type FraudDecision = 'pass' | 'review' | 'block';

export interface FraudSignal {
  /** e.g. `velocity.card`, `country.cardVsPhone`. */
  name: string;
  points: number;
  /** In words, for the inbox and the refusal. */
  detail: string;
}

export interface FraudScore {
  score: number;
  decision: FraudDecision;
  /** Every signal that tripped (points > 0), highest first. */
  signals: FraudSignal[];
  /** One sentence: the decision and its strongest reasons. */
  reason: string;
}

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };
export type FraudRulesOverride = DeepPartial<FraudRules>;

/**
 * Rules from the deployment's defaults, then each override in order (FRAUD_RULES, then a branch's
 * row). Unknown keys and values of the wrong type are ignored and reported, never fatal.
 */
export function mergeFraudRules(base: FraudRules, ...overrides: Array<unknown>): { rules: FraudRules; problems: string[] } {
  const problems: string[] = [];
  const merge = (target: Record<string, unknown>, from: unknown, at: string): Record<string, unknown> => {
    if (from === undefined || from === null) return target;
    if (typeof from !== 'object' || Array.isArray(from)) {
      problems.push(`${at || 'rules'}: expected an object`);
      return target;
    }
    const out: Record<string, unknown> = { ...target };
    for (const [k, v] of Object.entries(from as Record<string, unknown>)) {
      const path = at ? `${at}.${k}` : k;
      const current = target[k];
      if (current === undefined) problems.push(`${path}: unknown`);
      else if (typeof current === 'object') out[k] = merge(current as Record<string, unknown>, v, path);
      else if (typeof current === 'number' && (typeof v !== 'number' || !Number.isFinite(v) || v < 0)) problems.push(`${path}: expected a number ≥ 0`);
      else if (typeof current === 'string' && !(k === 'onTimeout' && (v === 'approve' || v === 'reject'))) problems.push(`${path}: expected "approve" or "reject"`);
      else out[k] = v;
    }
    return out;
  };
  let rules = base as unknown as Record<string, unknown>;
  for (const o of overrides) rules = merge(rules, o, '');
  return { rules: rules as unknown as FraudRules, problems };
}

export function decisionFor(score: number, rules: Pick<FraudRules, 'reviewAt' | 'blockAt'>): FraudDecision {
  if (score >= rules.blockAt) return 'block';
  if (score >= rules.reviewAt) return 'review';
  return 'pass';
}

const money = (minor: number, currency: string) => `${(minor / 100).toFixed(2)} ${currency}`;

export function scorePayment(facts: PaymentFacts, rules: FraudRules = DEFAULT_FRAUD_RULES): FraudScore {
  const signals: FraudSignal[] = [];
  const add = (name: string, points: number, detail: string) => {
    if (points > 0) signals.push({ name, points, detail });
  };
  const v = rules.velocity;
  const w = `in the last ${v.windowMinutes} minutes`;
  if (facts.attempts.customer > v.maxPerCustomer) add('velocity.customer', v.customerPoints, `${facts.attempts.customer} payment attempts by this customer ${w} (more than ${v.maxPerCustomer})`);
  if (facts.attempts.card > v.maxPerCard) add('velocity.card', v.cardPoints, `${facts.attempts.card} payment attempts with this card ${w} (more than ${v.maxPerCard})`);
  if (facts.attempts.ip > v.maxPerIp) add('velocity.ip', v.ipPoints, `${facts.attempts.ip} payment attempts from this address ${w} (more than ${v.maxPerIp})`);
  const extraDeclines = Math.max(0, facts.declines - v.declinesAllowed);
  add('declines', Math.min(v.declinePointsCap, extraDeclines * v.pointsPerDecline), `${facts.declines} declined payments ${w}`);

  const { card, ip } = facts.countries;
  const phone = facts.phoneCountries;
  if (card && phone.length && !phone.includes(card)) add('country.cardVsPhone', rules.countries.cardVsPhone, `the card is from ${card}, the contact phone from ${phone.join('/')}`);
  if (card && ip && card !== ip) add('country.cardVsIp', rules.countries.cardVsIp, `the card is from ${card}, the payer's address from ${ip}`);
  if (ip && phone.length && !phone.includes(ip)) add('country.phoneVsIp', rules.countries.phoneVsIp, `the contact phone is from ${phone.join('/')}, the payer's address from ${ip}`);

  const a = rules.amount;
  const { customerMinor, customerPayments, tourMinor, tourPayments } = facts.usual;
  if (customerMinor !== null && customerPayments >= a.customerMinPayments && facts.amountMinor > a.factor * customerMinor) {
    add('amount.customer', a.customerPoints, `${money(facts.amountMinor, facts.currency)} is more than ${a.factor}× this customer's usual ${money(customerMinor, facts.currency)}`);
  }
  if (tourMinor !== null && tourPayments >= a.tourMinPayments && facts.amountMinor > a.factor * tourMinor) {
    add('amount.tour', a.tourPoints, `${money(facts.amountMinor, facts.currency)} is more than ${a.factor}× the tour's usual ${money(tourMinor, facts.currency)}`);
  }
  if (facts.leadTimeHours < rules.leadTime.withinHours) add('leadTime', rules.leadTime.points, `the departure is ${Math.max(0, Math.round(facts.leadTimeHours))} hours away`);

  signals.sort((x, y) => y.points - x.points || x.name.localeCompare(y.name));
  const score = Math.min(100, signals.reduce((s, x) => s + x.points, 0));
  const decision = decisionFor(score, rules);
  const why = signals.slice(0, 3).map((s) => s.detail).join('; ');
  const reason = decision === 'pass'
    ? `fraud score ${score}: below ${rules.reviewAt}, the payment goes ahead${why ? ` (${why})` : ''}`
    : decision === 'review'
      ? `fraud score ${score}: a person reviews the payment before it is authorized (${why})`
      : `fraud score ${score}: the payment is refused as suspected fraud (${why})`;
  return { score, decision, signals, reason };
}

// --- where a payer is: the phone's calling code and the client address ------------------------

/** Calling codes (without +) and the countries they belong to. Longest prefix wins. */
const CALLING_CODES: Record<string, string[]> = {
  1: ['US', 'CA', 'PR', 'DO', 'JM', 'BS', 'TT', 'BB'], 7: ['RU', 'KZ'], 20: ['EG'], 27: ['ZA'], 30: ['GR'], 31: ['NL'], 32: ['BE'], 33: ['FR'], 34: ['ES'], 36: ['HU'],
  39: ['IT', 'VA'], 40: ['RO'], 41: ['CH'], 43: ['AT'], 44: ['GB', 'GG', 'JE', 'IM'], 45: ['DK'], 46: ['SE'], 47: ['NO'], 48: ['PL'], 49: ['DE'],
  51: ['PE'], 52: ['MX'], 53: ['CU'], 54: ['AR'], 55: ['BR'], 56: ['CL'], 57: ['CO'], 58: ['VE'], 60: ['MY'], 61: ['AU'], 62: ['ID'], 63: ['PH'],
  64: ['NZ'], 65: ['SG'], 66: ['TH'], 81: ['JP'], 82: ['KR'], 84: ['VN'], 86: ['CN'], 90: ['TR'], 91: ['IN'], 92: ['PK'],
  212: ['MA'], 213: ['DZ'], 216: ['TN'], 234: ['NG'], 254: ['KE'], 351: ['PT'], 352: ['LU'], 353: ['IE'], 354: ['IS'], 356: ['MT'], 357: ['CY'],
  358: ['FI'], 359: ['BG'], 370: ['LT'], 371: ['LV'], 372: ['EE'], 380: ['UA'], 385: ['HR'], 386: ['SI'], 420: ['CZ'], 421: ['SK'],
  506: ['CR'], 507: ['PA'], 591: ['BO'], 593: ['EC'], 595: ['PY'], 598: ['UY'], 966: ['SA'], 971: ['AE'], 972: ['IL'], 974: ['QA'],
};

/** The countries of an international phone number (+34..., 0034...); [] when it is not one or its code is unknown. */
export function phoneCountries(phone: string | null | undefined): string[] {
  if (!phone) return [];
  const compact = phone.replace(/[\s().-]/g, '');
  const m = /^(?:\+|00)(\d{4,15})$/.exec(compact);
  if (!m) return [];
  for (const len of [3, 2, 1]) {
    const found = CALLING_CODES[m[1].slice(0, len)];
    if (found) return found;
  }
  return [];
}

/** Addresses that say nothing about where a person is: private, loopback, link-local, shared, unique-local. */
const NOWHERE = (() => {
  const list = new BlockList();
  for (const [net, prefix] of [['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16], ['127.0.0.0', 8], ['169.254.0.0', 16], ['100.64.0.0', 10], ['0.0.0.0', 8]] as const) list.addSubnet(net, prefix, 'ipv4');
  for (const [net, prefix] of [['::1', 128], ['fc00::', 7], ['fe80::', 10], ['::', 128]] as const) list.addSubnet(net, prefix, 'ipv6');
  return list;
})();

export interface IpCountryTable {
  lookup(ip: string): string | null;
  size: number;
}

/** `::ffff:1.2.3.4` (an IPv4 client on a dual-stack socket) is 1.2.3.4. */
export function normalizeIp(ip: string | null | undefined): string | null {
  if (!ip) return null;
  const bare = ip.trim().replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1');
  return isIP(bare) ? bare : null;
}

/**
 * A small CIDR → country table, e.g. "203.0.113.0/24=AU, 2001:db8::/32=DE" (FRAUD_IP_COUNTRIES).
 * It is not a geo-IP database: only the ranges listed are known; private and loopback addresses
 * are never a country. Bad entries are reported and skipped.
 */
export function ipCountryTable(spec: string | undefined): IpCountryTable & { problems: string[] } {
  const problems: string[] = [];
  const byCountry = new Map<string, BlockList>();
  let size = 0;
  for (const entry of (spec ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([0-9a-f.:]+)\/(\d{1,3})\s*=\s*([A-Za-z]{2})$/i.exec(entry);
    const family = m ? isIP(m[1]) : 0;
    if (!m || !family || Number(m[2]) > (family === 4 ? 32 : 128)) {
      problems.push(`"${entry}": expected <address>/<prefix>=<country>`);
      continue;
    }
    const country = m[3].toUpperCase();
    const list = byCountry.get(country) ?? new BlockList();
    list.addSubnet(m[1], Number(m[2]), family === 4 ? 'ipv4' : 'ipv6');
    byCountry.set(country, list);
    size++;
  }
  return {
    size,
    problems,
    lookup(raw: string): string | null {
      const ip = normalizeIp(raw);
      if (!ip) return null;
      const type = isIP(ip) === 4 ? 'ipv4' : 'ipv6';
      if (NOWHERE.check(ip, type)) return null;
      for (const [country, list] of byCountry) if (list.check(ip, type)) return country;
      return null;
    },
  };
}
