/**
 * The one way a message leaves: claimed only when it is ready to hand over, sent, and its
 * claim settled by what the provider answered. Campaigns, automations and booking messages
 * all send through `claimAndSend`; each passes a `ClaimStore` over its own table.
 *
 * The rules (see integrations/email/types.ts for what providers answer):
 * - The caller renders every message BEFORE calling: a template that fails to render claims
 *   nothing.
 * - Claims are made per provider call (at most `provider.maxBatch`), committed just before it,
 *   so a crash strands at most the one call in flight, and rows not tried yet stay unclaimed.
 * - accepted → sent; rejected → failed (with the reason); retry → released (claim given back:
 *   nothing was handed over), and the calls after it are not made; unknown → unknown (the
 *   hand-over was ambiguous: never sent again, the provider's events settle it).
 * - The provider threw: by its contract nothing of the call was handed over → released; a
 *   configuration error (bad key) is released, or failed with its reason when the caller asks
 *   (`configurationErrors: 'fail'`), and reported in `configurationError`.
 * - A claim left behind by a worker that died mid-call is each store's stale-claim sweep's:
 *   it becomes unknown, never sent again.
 */
import { EmailConfigurationError, type EmailMessage, type EmailProvider } from '../../integrations/email/types';

export type SettledStatus = 'sent' | 'failed' | 'unknown';

export interface Settlement {
  sendId: string;
  status: SettledStatus;
  providerMessageId?: string;
  error?: string;
}

export interface Release {
  sendId: string;
  /** Why it could not be handed over now. */
  error: string;
  /** What the provider asked us to wait, when it said. */
  retryAfterMs?: number;
  /** The provider throttled us (WhatsApp 130429): tried again later however often, never given up on. */
  throttled?: boolean;
}

export interface ClaimStore {
  /** Claims these sends (one committed statement) and returns those it claimed; others are someone else's or done. */
  claim(sendIds: string[]): Promise<Set<string>>;
  /** Gives claims back: nothing was handed over. */
  release(releases: Release[]): Promise<void>;
  /** Writes the outcome of claimed sends. */
  settle(settlements: Settlement[]): Promise<void>;
}

export interface ClaimSendResult {
  claimed: number;
  sent: number;
  failed: number;
  unknown: number;
  released: number;
  /** > 0 when something was released: how long to wait before trying again (the provider's word, else `defaultRetryMs`). */
  retryAfterMs: number;
  /** The provider refused our configuration (bad API key, SMTP auth): retrying cannot help. */
  configurationError?: string;
  /** Every claimed send's outcome, by send id ('released' when given back). */
  outcomes: Map<string, SettledStatus | 'released'>;
}

export interface ClaimSendOptions {
  /** Called before each provider call (an activity's heartbeat). */
  heartbeat?: () => void;
  /** On a configuration error: give the claims back (campaigns: the campaign stops) or fail them with the reason (booking messages). */
  configurationErrors?: 'release' | 'fail';
  /** The wait to report when the provider gave none (default 5 s). */
  defaultRetryMs?: number;
}

export async function claimAndSend(provider: EmailProvider, messages: EmailMessage[], store: ClaimStore, options: ClaimSendOptions = {}): Promise<ClaimSendResult> {
  const result: ClaimSendResult = { claimed: 0, sent: 0, failed: 0, unknown: 0, released: 0, retryAfterMs: 0, outcomes: new Map() };
  const defaultRetryMs = options.defaultRetryMs ?? 5000;
  const release = async (releases: Release[]) => {
    if (!releases.length) return;
    await store.release(releases);
    result.released += releases.length;
    for (const r of releases) {
      result.outcomes.set(r.sendId, 'released');
      result.retryAfterMs = Math.max(result.retryAfterMs, r.retryAfterMs ?? defaultRetryMs);
    }
  };
  const settle = async (settlements: Settlement[]) => {
    if (!settlements.length) return;
    await store.settle(settlements);
    for (const s of settlements) {
      result.outcomes.set(s.sendId, s.status);
      result[s.status === 'sent' ? 'sent' : s.status]++;
    }
  };

  for (let i = 0; i < messages.length; i += provider.maxBatch) {
    options.heartbeat?.();
    const candidates = messages.slice(i, i + provider.maxBatch);
    const claimedIds = await store.claim(candidates.map((m) => m.sendId));
    const chunk = candidates.filter((m) => claimedIds.has(m.sendId));
    result.claimed += chunk.length;
    if (!chunk.length) continue;

    let answers;
    try {
      answers = await provider.send(chunk);
    } catch (err) {
      // By the provider's contract nothing of this call was handed over.
      const reason = (err as Error)?.message ?? String(err);
      if (err instanceof EmailConfigurationError) {
        result.configurationError = reason;
        if (options.configurationErrors === 'fail') await settle(chunk.map((m) => ({ sendId: m.sendId, status: 'failed', error: reason })));
        else await release(chunk.map((m) => ({ sendId: m.sendId, error: reason })));
        return result;
      }
      await release(chunk.map((m) => ({ sendId: m.sendId, error: `not sent: ${reason}` })));
      return result;
    }

    const settlements: Settlement[] = [];
    const releases: Release[] = [];
    const answered = new Set<string>();
    for (const a of answers) {
      answered.add(a.sendId);
      if (a.status === 'accepted') settlements.push({ sendId: a.sendId, status: 'sent', providerMessageId: a.providerMessageId });
      else if (a.status === 'rejected') settlements.push({ sendId: a.sendId, status: 'failed', error: a.error ?? 'rejected by the provider' });
      else if (a.status === 'unknown') settlements.push({ sendId: a.sendId, status: 'unknown', error: a.error });
      else releases.push({ sendId: a.sendId, error: a.error ?? 'the provider asked to retry', retryAfterMs: a.retryAfterMs });
    }
    // A provider that left a message out gave no answer for it: it may have sent it.
    for (const m of chunk) if (!answered.has(m.sendId)) settlements.push({ sendId: m.sendId, status: 'unknown', error: 'the provider gave no answer for it' });
    await settle(settlements);
    if (releases.length) {
      await release(releases);
      return result; // throttled or down: the calls after this one wait too
    }
  }
  return result;
}
