/** The campaign workflow's messages, shared by the workflow and the API. */
import { defineQuery, defineUpdate } from '@temporalio/workflow';

export function campaignWorkflowId(campaignId: string): string {
  return `campaign-${campaignId}`;
}

export interface CampaignProgress {
  status: 'scheduled' | 'sending' | 'paused' | 'sent' | 'cancelled';
  phase: 'waiting_for_start' | 'resolving' | 'sending' | 'testing' | 'waiting_for_winner' | 'waiting_for_window' | 'done';
  audience: number;
  sent: number;
  failed: number;
  suppressed: number;
  unknown: number;
  remaining: number;
  /** Messages per second the campaign has run at so far: sent over the time spent sending (not paused or waiting). */
  ratePerSecond: number;
  winner: string | null;
  /** Set when the campaign paused itself: why its batches could not be handed over (bad key, a template that does not render). */
  pausedBecause?: string;
}

/** What a run hands to the next when it continues as new. */
export interface CampaignCarry {
  progress: CampaignProgress;
  paused: boolean;
  cancelled: boolean;
  resolved: boolean;
  winnerChosen: boolean;
  batches: number;
  /** Sent and milliseconds spent sending, for the rate (absent in runs carried before it existed). */
  pace?: { sent: number; ms: number };
}

export const pauseUpdate = defineUpdate<CampaignProgress, []>('pause');
export const resumeUpdate = defineUpdate<CampaignProgress, []>('resume');
export const cancelCampaignUpdate = defineUpdate<CampaignProgress, []>('cancel');
export const progressQuery = defineQuery<CampaignProgress>('progress');
