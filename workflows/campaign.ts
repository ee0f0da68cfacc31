/**
 * One email campaign: wait for its start, resolve the audience at send time, then walk it in
 * batches at the provider's rate, pausable, resumable and cancellable; an A/B test sends the
 * variants to a sample, waits, and sends the winner to the rest. Every recipient is a row that
 * an activity claims before the provider call (see activities/campaign.ts), so a worker killed
 * at any moment never mails anyone twice. The history stays small: the run continues as new
 * every few hundred batches, carrying its counters.
 */
import {
  ActivityFailure, ApplicationFailure, condition, continueAsNew, patched, proxyActivities, setHandler, sleep, workflowInfo, allHandlersFinished,
} from '@temporalio/workflow';
import type { CampaignActivities } from '../activities/campaign';
import {
  cancelCampaignUpdate, pauseUpdate, progressQuery, resumeUpdate, type CampaignCarry, type CampaignProgress,
} from './campaign-messages';

const db = proxyActivities<CampaignActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '500 milliseconds', maximumInterval: '30 seconds' },
});
const sender = proxyActivities<CampaignActivities>({
  // A batch is claimed, sent and recorded within this time; a claim older than it is "unknown".
  startToCloseTimeout: '2 minutes',
  // A dead worker is noticed within this, not after the whole timeout.
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

/**
 * The same batches with a deadline: a batch that cannot be handed over for half an hour (a
 * template that does not render, the database down), or that the provider refuses our
 * configuration for (bad key: not retried), pauses the campaign with the reason; nothing was
 * claimed or every claim was given back, so a resume carries on where it stopped.
 */
const deadlineSender = proxyActivities<CampaignActivities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '10 seconds',
  scheduleToCloseTimeout: '30 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute', nonRetryableErrorTypes: ['EmailConfiguration', 'CampaignMissing'] },
});

const BATCHES_PER_RUN = 200;

export async function campaignWorkflow(input: { campaignId: string; carry?: CampaignCarry }): Promise<CampaignProgress> {
  const { campaignId } = input;
  const carry = input.carry;
  const progress: CampaignProgress = carry?.progress ?? {
    status: 'scheduled', phase: 'waiting_for_start', audience: 0, sent: 0, failed: 0, suppressed: 0, unknown: 0, remaining: 0, ratePerSecond: 0, winner: null,
  };
  let paused = carry?.paused ?? false;
  let cancelled = carry?.cancelled ?? false;
  let resolved = carry?.resolved ?? false;
  let winnerChosen = carry?.winnerChosen ?? false;
  let batches = carry?.batches ?? 0;
  // What was sent and how long the sending took (batches and the rate's own waits, not pauses or
  // the A/B wait): the rate the campaign ran at.
  const pace = carry?.pace ?? { sent: 0, ms: 0 };

  const refuse = (message: string): never => {
    throw ApplicationFailure.create({ type: 'CampaignStateRefused', message, nonRetryable: true });
  };
  const finished = () => progress.status === 'sent' || progress.status === 'cancelled';
  setHandler(pauseUpdate, async () => {
    paused = true;
    progress.status = 'paused';
    await db.setCampaignStatus({ campaignId, status: 'paused' });
    return progress;
  }, { validator: () => { if (finished() || paused) refuse(`a ${progress.status} campaign cannot be paused`); } });
  setHandler(resumeUpdate, async () => {
    paused = false;
    progress.status = resolved ? 'sending' : 'scheduled';
    delete progress.pausedBecause;
    await db.setCampaignStatus({ campaignId, status: progress.status });
    return progress;
  }, { validator: () => { if (!paused || cancelled) refuse('only a paused campaign can be resumed'); } });
  setHandler(cancelCampaignUpdate, async () => {
    cancelled = true;
    return progress;
  }, { validator: () => { if (finished() || cancelled) refuse(`a ${progress.status} campaign cannot be cancelled`); } });
  setHandler(progressQuery, () => progress);

  const campaign = await db.loadCampaign(campaignId);

  const end = async (status: 'sent' | 'cancelled') => {
    const counts = await db.settleCampaign({ campaignId, status, ratePerSecond: progress.ratePerSecond });
    Object.assign(progress, counts, { status, phase: 'done' });
    await condition(allHandlersFinished);
    return progress;
  };

  // 1. Until the scheduled start (or a cancellation).
  if (!resolved) {
    const waitMs = Math.max(0, (campaign.scheduledAt ? Date.parse(campaign.scheduledAt) : Date.now()) - Date.now());
    if (waitMs > 0) await condition(() => cancelled, waitMs);
    await condition(() => !paused || cancelled);
    if (cancelled) return end('cancelled');
    // 2. The audience, resolved now rather than when the campaign was written.
    progress.phase = 'resolving';
    const audience = await db.resolveAudience({ campaignId });
    Object.assign(progress, audience);
    resolved = true;
    progress.status = 'sending';
    await db.setCampaignStatus({ campaignId, status: 'sending' });
  }

  // 3. Batches: the test variants first (A/B), then everyone else.
  for (;;) {
    if (cancelled) return end('cancelled');
    if (paused) {
      await condition(() => !paused || cancelled);
      continue;
    }
    const testing = campaign.abTest !== null && !winnerChosen;
    progress.phase = testing ? 'testing' : 'sending';
    const started = Date.now();
    let batch;
    if (patched('campaign-batch-deadline')) {
      try {
        batch = await deadlineSender.sendBatch({ campaignId, onlyTestVariants: testing });
      } catch (err) {
        if (!(err instanceof ActivityFailure)) throw err;
        paused = true;
        progress.status = 'paused';
        progress.pausedBecause = (err.cause?.message ?? err.message).slice(0, 500);
        await db.setCampaignStatus({ campaignId, status: 'paused' });
        continue;
      }
    } else {
      batch = await sender.sendBatch({ campaignId, onlyTestVariants: testing });
    }
    batches++;
    progress.sent += batch.sent;
    progress.failed += batch.failed;
    progress.suppressed += batch.suppressed;
    progress.unknown += batch.unknown;
    // Exact when the batch counted it; else what the batch settled leaves pending or claimed (this workflow is the campaign's only sender).
    progress.remaining = batch.remaining ?? Math.max(0, progress.remaining - batch.sent - batch.failed - batch.suppressed - batch.unknown);
    const elapsed = Math.max(1, Date.now() - started);

    if (batch.claimed === 0) {
      if (batch.retryAfterMs) {
        await condition(() => cancelled, batch.retryAfterMs);
      } else if (batch.waitingForWindow > 0) {
        progress.phase = 'waiting_for_window';
        await condition(() => cancelled || paused, '15 minutes');
      } else if (testing) {
        // The sample is out: wait, then choose the winner by its open or click rate.
        progress.phase = 'waiting_for_winner';
        await condition(() => cancelled, campaign.abTest!.waitHours * 3_600_000);
        if (cancelled) continue;
        progress.winner = await db.chooseWinner({ campaignId });
        winnerChosen = true;
      } else if (batch.remaining === 0) {
        return end('sent');
      } else {
        await sleep('5 seconds'); // claimed elsewhere or retrying: look again shortly
      }
    } else {
      // The provider's rate: a batch of n at r per second takes at least n / r seconds.
      const minimumMs = Math.ceil((batch.claimed * 1000) / campaign.ratePerSecond);
      if (minimumMs > elapsed) await condition(() => cancelled || paused, minimumMs - elapsed);
      pace.sent += batch.sent;
      pace.ms += Math.max(1, Date.now() - started);
      progress.ratePerSecond = Math.round((pace.sent * 1000) / pace.ms);
      if (batch.retryAfterMs) await condition(() => cancelled, batch.retryAfterMs);
    }

    if (batches % BATCHES_PER_RUN === 0 || workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      return continueAsNew<typeof campaignWorkflow>({ campaignId, carry: { progress, paused, cancelled, resolved, winnerChosen, batches, pace } });
    }
  }
}
