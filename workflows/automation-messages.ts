/** The automation workflow's messages and id, shared with the API. */
import { defineSignal } from '@temporalio/workflow';

export function automationWorkflowId(automationId: string, contactId: string, occasion: string): string {
  return `automation-${automationId}-${contactId}${occasion ? `-${occasion}` : ''}`;
}

/** Sent to running enrollments when their automation is resumed, so they do not wait for the next check. */
export const automationResumedSignal = defineSignal('automationResumed');

export type AutomationStep =
  | { wait: { hours: number } }
  | { send: { templateId: string } }
  | { check: { rules: unknown } };
