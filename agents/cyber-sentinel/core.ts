/**
 * CyberSentinel's analysis, pure: from the security events of a window (counted per kind, address
 * and account) it finds brute force, credential stuffing, 401/403 bursts and refresh-token reuse,
 * and proposes temporary blocks and one alert to the admins' security inbox.
 *
 * Brute force from one address blocks the address, not the account: blocking the account would
 * let anyone lock its owner out. Only a distributed brute force (one account, failures from
 * several addresses) blocks the account. Trusted addresses are ignored; what is already blocked
 * is not proposed again.
 */
import type { CoreResult, ProposedAction } from '../types';

export type EventKind = 'login_failed' | 'refresh_reused' | 'http_401' | 'http_403';

/** Events of one kind, address and account in the window. */
export interface EventCount {
  kind: EventKind;
  ip: string;
  account: string | null;
  count: number;
}

export interface ActiveBlockFact {
  scope: 'ip' | 'account';
  value: string;
}

export interface Thresholds {
  /** Failed logins of one account from one address (or, from `distributedAddresses` addresses, in all). */
  bruteForceFailures: number;
  /** Addresses a brute force must come from to block the account itself. */
  distributedAddresses: number;
  /** Distinct accounts failing from one address. */
  stuffingAccounts: number;
  /** 401 and 403 answers to one address. */
  burstResponses: number;
  blockMinutes: number;
}

export const DEFAULT_THRESHOLDS: Thresholds = { bruteForceFailures: 10, distributedAddresses: 3, stuffingAccounts: 5, burstResponses: 50, blockMinutes: 60 };

export type Finding =
  | { kind: 'brute_force'; account: string; failures: number; addresses: string[] }
  | { kind: 'credential_stuffing'; ip: string; accounts: number; failures: number }
  | { kind: 'response_burst'; ip: string; responses: number }
  | { kind: 'refresh_reuse'; account: string; reuses: number; addresses: string[] };

export interface ProposedBlock {
  scope: 'ip' | 'account';
  value: string;
  minutes: number;
  reason: string;
}

export interface SentinelOutput {
  windowMinutes: number;
  events: number;
  findings: Finding[];
  blocks: ProposedBlock[];
  alert: { severity: 'warning' | 'critical'; summary: string } | null;
}

/** What identifies a finding across runs (its kind and who or where). */
export const findingKey = (f: Finding) => `${f.kind}:${'account' in f ? f.account : f.ip}`;

const sum = (rows: EventCount[]) => rows.reduce((n, r) => n + r.count, 0);
const uniqueSorted = (values: string[]) => [...new Set(values)].sort();

function groupBy<K extends string>(rows: EventCount[], key: (r: EventCount) => K | null): Map<K, EventCount[]> {
  const groups = new Map<K, EventCount[]>();
  for (const r of rows) {
    const k = key(r);
    if (k === null) continue;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  return new Map([...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export function analyseSecurityEvents(args: {
  events: EventCount[];
  activeBlocks: ActiveBlockFact[];
  trustedAddresses: string[];
  windowMinutes: number;
  thresholds?: Partial<Thresholds>;
  /** Keys (findingKey) of findings already alerted within the window: not alerted again every minute. */
  alerted?: string[];
}): CoreResult<SentinelOutput> {
  const t: Thresholds = { ...DEFAULT_THRESHOLDS, ...args.thresholds };
  const trusted = new Set(args.trustedAddresses);
  const events = args.events.filter((e) => !trusted.has(e.ip) && e.count > 0);
  const findings: Finding[] = [];
  const blocks: ProposedBlock[] = [];
  const blocked = new Set(args.activeBlocks.map((b) => `${b.scope}:${b.value.toLowerCase()}`));
  const propose = (scope: 'ip' | 'account', value: string, reason: string) => {
    const key = `${scope}:${value.toLowerCase()}`;
    if (blocked.has(key)) return;
    blocked.add(key);
    blocks.push({ scope, value, minutes: t.blockMinutes, reason });
  };

  const failed = events.filter((e) => e.kind === 'login_failed');
  // Brute force: many failures on one account.
  for (const [account, rows] of groupBy(failed, (r) => r.account)) {
    const failures = sum(rows);
    const byAddress = groupBy(rows, (r) => r.ip);
    const heavy = [...byAddress.entries()].filter(([, rs]) => sum(rs) >= t.bruteForceFailures).map(([ip]) => ip);
    const distributed = byAddress.size >= t.distributedAddresses && failures >= t.bruteForceFailures;
    if (!heavy.length && !distributed) continue;
    findings.push({ kind: 'brute_force', account, failures, addresses: [...byAddress.keys()] });
    for (const ip of heavy) propose('ip', ip, `brute force: ${sum(byAddress.get(ip)!)} failed logins on ${account} from this address`);
    if (distributed) propose('account', account, `distributed brute force: ${failures} failed logins from ${byAddress.size} addresses`);
  }
  // Credential stuffing: one address, many accounts.
  for (const [ip, rows] of groupBy(failed, (r) => r.ip)) {
    const accounts = new Set(rows.map((r) => r.account ?? '')).size;
    if (accounts < t.stuffingAccounts) continue;
    const failures = sum(rows);
    findings.push({ kind: 'credential_stuffing', ip, accounts, failures });
    propose('ip', ip, `credential stuffing: failed logins on ${accounts} accounts from this address`);
  }
  // Bursts of 401/403 answers to one address.
  for (const [ip, rows] of groupBy(events.filter((e) => e.kind === 'http_401' || e.kind === 'http_403'), (r) => r.ip)) {
    const responses = sum(rows);
    if (responses < t.burstResponses) continue;
    findings.push({ kind: 'response_burst', ip, responses });
    propose('ip', ip, `${responses} refused requests (401/403) from this address`);
  }
  // Refresh-token reuse: a token leaked; the API has already ended that login's sessions.
  for (const [account, rows] of groupBy(events.filter((e) => e.kind === 'refresh_reused'), (r) => r.account)) {
    findings.push({ kind: 'refresh_reuse', account, reuses: sum(rows), addresses: uniqueSorted(rows.map((r) => r.ip)) });
  }

  const alerted = new Set(args.alerted ?? []);
  const fresh = findings.filter((f) => !alerted.has(findingKey(f)));
  const critical = fresh.some((f) => f.kind === 'credential_stuffing' || f.kind === 'refresh_reuse');
  const count = (list: Finding[]) => (['brute_force', 'credential_stuffing', 'response_burst', 'refresh_reuse'] as const)
    .map((k) => [k, list.filter((f) => f.kind === k).length] as const).filter(([, n]) => n > 0)
    .map(([k, n]) => `${n} ${k.replace('_', ' ')}`);
  const counts = count(findings);
  const alert = fresh.length
    ? { severity: critical ? 'critical' as const : 'warning' as const, summary: `${count(fresh).join(', ')} in the last ${args.windowMinutes} min; ${blocks.length} new block(s)` }
    : null;

  const actions: ProposedAction[] = blocks.map((b) => ({ tool: 'security.block', input: b, reason: b.reason }));
  if (alert) actions.push({ tool: 'security.alert', input: { ...alert, findings: fresh }, reason: 'admins see every new finding in the security inbox' });

  const narrative = findings.length
    ? `In the last ${args.windowMinutes} minutes: ${counts.join(', ')}. Proposed ${blocks.length} temporary block(s) of ${t.blockMinutes} min${blocks.length ? ` (${blocks.map((b) => `${b.scope} ${b.value}`).join(', ')})` : ''}${alert ? ' and an alert to the admins' : '; the admins were already alerted'}.`
    : `Nothing suspicious in the last ${args.windowMinutes} minutes (${sum(events)} events from untrusted addresses).`;
  return { output: { windowMinutes: args.windowMinutes, events: sum(events), findings, blocks, alert }, narrative, actions };
}
