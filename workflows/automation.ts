/**
 * One contact's way through one automation (welcome, abandoned booking, post-trip...): waits,
 * sends, and checks, step by step. Before every step it looks again: has the contact reached
 * the automation's goal (e.g. booked)? Then it exits. Is the automation paused? Then it waits
 * for the resume. Each send is claimed in the database before the provider call, so a crash
 * never mails the step twice.
 */
import { ActivityFailure, condition, patched, proxyActivities, setHandler } from '@temporalio/workflow';
import type { AutomationActivities } from '../activities/automation';
import { automationResumedSignal } from './automation-messages';

const act = proxyActivities<AutomationActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});
/** The send reaches the provider: it gives up after a day of outage, and never retries a bad template or configuration. */
const mailer = proxyActivities<AutomationActivities>({
  startToCloseTimeout: '1 minute',
  scheduleToCloseTimeout: '1 day',
  retry: { initialInterval: '1 second', maximumInterval: '5 minutes', nonRetryableErrorTypes: ['EmailConfiguration'] },
});

export async function automationWorkflow(input: { automationId: string; contactId: string; occasion: string }): Promise<{ status: string; step: number; reason?: string }> {
  let resumed = false;
  setHandler(automationResumedSignal, () => {
    resumed = true;
  });
  const { steps } = await act.loadAutomation(input.automationId);
  const finish = async (status: 'completed' | 'exited', step: number, reason?: string) => {
    await act.recordEnrollment({ ...input, step, status, reason });
    return { status, step, reason };
  };

  for (let step = 0; step < steps.length; step++) {
    for (;;) {
      const state = await act.checkEnrollment({ automationId: input.automationId, contactId: input.contactId });
      if (state.goalMet) return finish('exited', step, 'goal met');
      if (state.automationStatus === 'archived') return finish('exited', step, 'automation archived');
      if (state.automationStatus === 'active') break;
      resumed = false;
      await condition(() => resumed, '1 hour'); // paused: wait for the resume (or look again hourly)
    }
    await act.recordEnrollment({ ...input, step, status: 'running' });
    const s = steps[step];
    if ('wait' in s) {
      await condition(() => false, Math.max(1, Math.round(s.wait.hours * 3_600_000)));
    } else if ('send' in s) {
      if (patched('automation-send-deadline')) {
        try {
          await mailer.sendAutomationEmail({ ...input, step, templateId: s.send.templateId });
        } catch (err) {
          // A day without a hand-over (nothing was sent: each claim was given back): the contact leaves with the reason.
          if (!(err instanceof ActivityFailure)) throw err;
          return finish('exited', step, `email not sent: ${err.cause?.message ?? err.message}`.slice(0, 200));
        }
      } else {
        await act.sendAutomationEmail({ ...input, step, templateId: s.send.templateId });
      }
    } else if ('check' in s) {
      if (!(await act.contactMatches({ contactId: input.contactId, rules: s.check.rules }))) return finish('exited', step, 'condition not met');
    }
  }
  return finish('completed', steps.length);
}
