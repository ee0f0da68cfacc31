/** Automation activities: definitions, goal checks, enrollment bookkeeping and once-only sends. */
import type { Knex } from 'knex';
import { ApplicationFailure } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { applySegment, type SegmentNode } from '../models/segments';
import type { EmailAddress, EmailProvider } from '../integrations/email/types';
import { signUnsubscribeToken, unsubscribeUrl } from '../integrations/email/links';
import type { AutomationStep } from '../workflows/automation-messages';
import { automationWorkflowId } from '../workflows/automation-messages';
import type { RenderedTemplate } from './campaign';

export interface AutomationActivityDeps {
  knex: Knex;
  provider: () => EmailProvider;
  renderTemplate: (templateId: string) => Promise<RenderedTemplate>;
  publicUrl: string;
  linkSecret: string;
  from: EmailAddress;
}

async function matches(knex: Knex, contactId: string, rules: SegmentNode): Promise<boolean> {
  const row = await applySegment(knex, knex('contacts as c').where('c.id', contactId), rules).first('c.id');
  return Boolean(row);
}

export function createAutomationActivities(deps: AutomationActivityDeps) {
  const { knex } = deps;
  return {
    async loadAutomation(automationId: string): Promise<{ steps: AutomationStep[] }> {
      const a = await knex('automations').where({ id: automationId }).first('steps');
      if (!a) throw ApplicationFailure.nonRetryable(`automation ${automationId} does not exist`, 'AutomationMissing');
      return { steps: a.steps };
    },

    async checkEnrollment(input: { automationId: string; contactId: string }): Promise<{ automationStatus: string; goalMet: boolean }> {
      const a = await knex('automations').where({ id: input.automationId }).first('status', 'goal');
      return { automationStatus: a.status, goalMet: a.goal ? await matches(knex, input.contactId, a.goal as SegmentNode) : false };
    },

    async contactMatches(input: { contactId: string; rules: unknown }): Promise<boolean> {
      return matches(knex, input.contactId, input.rules as SegmentNode);
    },

    async recordEnrollment(input: { automationId: string; contactId: string; occasion: string; step: number; status: 'running' | 'completed' | 'exited'; reason?: string }): Promise<void> {
      await knex('automation_enrollments').where({ automation_id: input.automationId, contact_id: input.contactId, occasion: input.occasion })
        .update({ step: input.step, status: input.status, exit_reason: input.reason ?? null, updated_at: knex.fn.now() });
    },

    /** Claimed before the provider call: a retry after a crash in flight records 'unknown' instead of mailing again. */
    async sendAutomationEmail(input: { automationId: string; contactId: string; occasion: string; step: number; templateId: string }): Promise<string> {
      const workflowId = automationWorkflowId(input.automationId, input.contactId, input.occasion);
      const claimed = await knex('automation_sends').insert({ workflow_id: workflowId, step: input.step, status: 'claimed' })
        .onConflict(['workflow_id', 'step']).ignore().returning('send_id');
      if (!claimed.length) {
        const previous = await knex('automation_sends').where({ workflow_id: workflowId, step: input.step }).first();
        if (previous.status === 'claimed') {
          await knex('automation_sends').where({ workflow_id: workflowId, step: input.step, status: 'claimed' }).update({ status: 'unknown' });
          return 'unknown';
        }
        return previous.status;
      }
      const sendId = claimed[0].send_id as string;
      const settle = (status: string, error?: string) => knex('automation_sends').where({ send_id: sendId }).update({ status, error: error?.slice(0, 250) ?? null });
      const contact = await knex('contacts as c').where('c.id', input.contactId).first('c.id', 'c.email', 'c.first_name', 'c.last_name',
        knex.raw(`(exists (select 1 from suppressions s where s.email = lower(c.email))
          or not exists (select 1 from contact_consents cc where cc.contact_id = c.id and cc.channel = 'email' and cc.status = 'granted')) as blocked`));
      if (!contact || contact.blocked) {
        await settle('suppressed');
        return 'suppressed';
      }
      let results;
      try {
        const t = await deps.renderTemplate(input.templateId);
        results = await deps.provider().send([{
          sendId, kind: t.kind, to: { email: contact.email, name: [contact.first_name, contact.last_name].filter(Boolean).join(' ') || undefined },
          from: deps.from, subject: t.subject, html: t.html, text: t.text, categories: ['automation', `automation-${input.automationId}`],
          substitutions: { first_name: contact.first_name ?? '', last_name: contact.last_name ?? '', email: contact.email },
          unsubscribeUrl: unsubscribeUrl(deps.publicUrl, signUnsubscribeToken(contact.id, deps.linkSecret)),
        }]);
      } catch (err) {
        // Nothing was handed over (rendering failed, network error, 5xx): free the claim for the retry.
        await knex('automation_sends').where({ send_id: sendId, status: 'claimed' }).delete();
        throw err;
      }
      const [r] = results;
      if (r.status === 'retry') {
        await knex('automation_sends').where({ send_id: sendId, status: 'claimed' }).delete();
        throw new Error(`provider asked to retry: ${r.error ?? 'throttled'}`);
      }
      await settle(r.status === 'accepted' ? 'sent' : 'failed', r.error);
      return r.status === 'accepted' ? 'sent' : 'failed';
    },
  };
}

export type AutomationActivities = ReturnType<typeof createAutomationActivities>;

/**
 * Enrolls a contact (once per occasion) and starts its workflow. Used by the API (manual
 * enrollment) and by platform events (an expired hold enrolls into "abandoned booking").
 */
export async function enroll(knex: Knex, client: Client, taskQueueName: string, automationId: string, contactId: string, occasion = ''): Promise<boolean> {
  const workflowId = automationWorkflowId(automationId, contactId, occasion);
  const inserted = await knex('automation_enrollments').insert({ automation_id: automationId, contact_id: contactId, occasion, workflow_id: workflowId })
    .onConflict(['automation_id', 'contact_id', 'occasion']).ignore().returning('workflow_id');
  try {
    await client.workflow.start('automationWorkflow', { workflowId, taskQueue: taskQueueName, args: [{ automationId, contactId, occasion }], workflowIdReusePolicy: 'REJECT_DUPLICATE' });
  } catch (err) {
    if ((err as Error).name !== 'WorkflowExecutionAlreadyStartedError') throw err;
  }
  return inserted.length > 0;
}
