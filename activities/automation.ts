/** Automation activities: definitions, goal checks, enrollment bookkeeping and once-only sends. */
import type { Knex } from 'knex';
import { ApplicationFailure } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { applySegment, type SegmentNode } from '../models/segments';
import crypto from 'node:crypto';
import type { EmailAddress, EmailMessage, EmailProvider } from '../integrations/email/types';
import { signUnsubscribeToken, unsubscribeUrl } from '../integrations/email/links';
import type { AutomationStep } from '../workflows/automation-messages';
import { automationWorkflowId } from '../workflows/automation-messages';
import type { RenderedTemplate } from './campaign';
import { claimAndSend, type ClaimStore } from './messaging/claim-send';

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

    /**
     * One step's email, once: rendered first (a template that does not render claims nothing),
     * claimed (the automation_sends row, unique per workflow and step) just before the provider
     * call, settled by its answer. A claim found on a retry was in flight when a worker died:
     * 'unknown', never a second copy. Throttled or not handed over: the claim is given back and
     * the activity retried later. A configuration error (bad key) fails the step with its reason.
     */
    async sendAutomationEmail(input: { automationId: string; contactId: string; occasion: string; step: number; templateId: string }): Promise<string> {
      const workflowId = automationWorkflowId(input.automationId, input.contactId, input.occasion);
      const previous = await knex('automation_sends').where({ workflow_id: workflowId, step: input.step }).first();
      if (previous) {
        if (previous.status === 'claimed') {
          await knex('automation_sends').where({ workflow_id: workflowId, step: input.step, status: 'claimed' }).update({ status: 'unknown' });
          return 'unknown';
        }
        return previous.status;
      }
      const contact = await knex('contacts as c').where('c.id', input.contactId).first('c.id', 'c.email', 'c.first_name', 'c.last_name',
        knex.raw(`(exists (select 1 from suppressions s where s.email = lower(c.email))
          or not exists (select 1 from contact_consents cc where cc.contact_id = c.id and cc.channel = 'email' and cc.status = 'granted')) as blocked`));
      if (!contact || contact.blocked) {
        await knex('automation_sends').insert({ workflow_id: workflowId, step: input.step, status: 'suppressed' }).onConflict(['workflow_id', 'step']).ignore();
        const row = await knex('automation_sends').where({ workflow_id: workflowId, step: input.step }).first('status');
        return row.status;
      }
      let t: RenderedTemplate;
      try {
        t = await deps.renderTemplate(input.templateId);
      } catch (err) {
        throw ApplicationFailure.retryable(`template ${input.templateId} does not render (nothing was claimed): ${(err as Error).message}`, 'TemplateRender');
      }
      const sendId = crypto.randomUUID();
      const message: EmailMessage = {
        sendId, kind: t.kind, to: { email: contact.email, name: [contact.first_name, contact.last_name].filter(Boolean).join(' ') || undefined },
        from: deps.from, subject: t.subject, html: t.html, text: t.text, categories: ['automation', `automation-${input.automationId}`],
        substitutions: { first_name: contact.first_name ?? '', last_name: contact.last_name ?? '', email: contact.email },
        unsubscribeUrl: unsubscribeUrl(deps.publicUrl, signUnsubscribeToken(contact.id, deps.linkSecret)),
      };
      const result = await claimAndSend(deps.provider(), [message], automationClaims(knex, workflowId, input.step), { configurationErrors: 'fail' });
      const outcome = result.outcomes.get(sendId);
      if (outcome === 'released') throw ApplicationFailure.retryable(`not handed over, to be sent again: ${result.configurationError ?? 'the provider asked to retry'}`, 'EmailNotHandedOver');
      if (!outcome) {
        // Claimed by a concurrent attempt: its outcome is the step's.
        const row = await knex('automation_sends').where({ workflow_id: workflowId, step: input.step }).first('status');
        return row?.status ?? 'unknown';
      }
      return outcome;
    },
  };
}

/** Claims over automation_sends: the row is the claim (inserted 'claimed'; released by deleting it). */
function automationClaims(knex: Knex, workflowId: string, step: number): ClaimStore {
  return {
    async claim(sendIds) {
      const rows = await knex('automation_sends').insert({ workflow_id: workflowId, step, send_id: sendIds[0], status: 'claimed' })
        .onConflict(['workflow_id', 'step']).ignore().returning('send_id');
      return new Set(rows.map((r) => r.send_id as string));
    },
    async release(releases) {
      await knex('automation_sends').whereIn('send_id', releases.map((r) => r.sendId)).where({ status: 'claimed' }).delete();
    },
    async settle(settlements) {
      for (const s of settlements) {
        await knex('automation_sends').where({ send_id: s.sendId, status: 'claimed' }).update({ status: s.status, error: s.error?.slice(0, 250) ?? null });
      }
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

/** The contact behind a booking: its customer's, else the one with its contact email, else a new one (without consent). */
export async function contactForBooking(knex: Knex, bookingId: string): Promise<string | null> {
  const b = await knex('bookings').where({ id: bookingId }).first('customer_id', 'contact', 'language');
  if (!b) return null;
  let contact = b.customer_id ? await knex('contacts').where({ customer_id: b.customer_id }).first('id') : undefined;
  contact ??= await knex('contacts').whereRaw('lower(email) = lower(?)', [b.contact.email]).first('id');
  if (!contact) {
    // No consent is assumed: the automation's sends are suppressed until the person opts in.
    const [first, ...rest] = String(b.contact.name ?? '').split(/\s+/);
    [contact] = await knex.raw(`insert into contacts (email, first_name, last_name, language, source) values (?, ?, ?, ?, 'customer')
      on conflict (lower(email)) do update set updated_at = now() returning id`, [b.contact.email, first || null, rest.join(' ') || null, b.language]).then((r) => r.rows);
  }
  return contact!.id;
}

/** Enrolls a booking's contact in every active automation with this trigger, once per booking. */
export async function enrollBookingContact(knex: Knex, client: () => Promise<Client>, taskQueueName: string, bookingId: string, trigger: 'hold_expired' | 'booking_confirmed' | 'trip_completed'): Promise<number> {
  const automations = await knex('automations').where({ trigger, status: 'active' }).pluck('id');
  if (!automations.length) return 0;
  const contactId = await contactForBooking(knex, bookingId);
  if (!contactId) return 0;
  const temporal = await client();
  let enrolled = 0;
  for (const id of automations) if (await enroll(knex, temporal, taskQueueName, id, contactId, bookingId)) enrolled++;
  return enrolled;
}

/** Contacts we may mail: email consent granted, not suppressed (kept by the database's triggers). */
const SENDABLE = 'c.email_sendable';
/** The contact's local date (its time zone, else UTC). */
const LOCAL_DATE = `(now() at time zone coalesce(c.timezone, 'UTC'))::date`;
const INACTIVE_DAYS = 180;

/**
 * Date- and state-driven triggers, looked up by housekeeping (every minute), each enrollment once
 * per occasion, for contacts we may mail (consent granted, not suppressed):
 * - contact_created: contacts created since the automation was (in the last 7 days), except
 *   imported lists (occasion '');
 * - birthday: contacts whose birthday it is today in their time zone (29 February on the 28th in
 *   other years; occasion `birthday-<year>`);
 * - inactive (when `withInactive`, hourly): contacts older than 180 days with no open, click or
 *   booking in 180 days (occasion `inactive-<year>`: at most once a year).
 * At most `limit` per trigger and run; the next run carries on.
 */
export async function enrollDueContacts(knex: Knex, client: () => Promise<Client>, taskQueueName: string, options: { limit?: number; withInactive?: boolean } = {}): Promise<Record<string, number>> {
  const limit = options.limit ?? 1000;
  const triggers = await knex('automations').where({ status: 'active' }).whereIn('trigger', ['contact_created', 'birthday', 'inactive']).distinct('trigger').pluck('trigger');
  const due: Array<{ automation_id: string; contact_id: string; occasion: string; trigger: string }> = [];
  const notEnrolled = (occasion: string) => `not exists (select 1 from automation_enrollments e where e.automation_id = a.id and e.contact_id = c.id and e.occasion = ${occasion})`;
  if (triggers.includes('contact_created')) {
    const { rows } = await knex.raw(`select a.id as automation_id, c.id as contact_id, '' as occasion, a.trigger from automations a
      join contacts c on c.created_at >= greatest(a.created_at, now() - interval '7 days') and c.source <> 'import'
      where a.trigger = 'contact_created' and a.status = 'active' and ${SENDABLE} and ${notEnrolled(`''`)}
      order by c.created_at limit ?`, [limit]);
    due.push(...rows);
  }
  if (triggers.includes('birthday')) {
    // Candidates by the birthday index (yesterday, today or tomorrow in UTC covers every time zone), then the exact local date.
    const now = Date.now();
    const monthDays = [-1, 0, 1].map((d) => new Date(now + d * 86_400_000)).map((d) => (d.getUTCMonth() + 1) * 100 + d.getUTCDate());
    if (monthDays.includes(301)) monthDays.push(229); // 29 February, celebrated on the 28th in other years
    const { rows } = await knex.raw(`select a.id as automation_id, c.id as contact_id, 'birthday-' || extract(year from ${LOCAL_DATE}) as occasion, a.trigger
      from automations a join contacts c on c.birthday is not null
        and (extract(month from c.birthday) * 100 + extract(day from c.birthday)) in (${monthDays.map(() => '?').join(', ')})
      where a.trigger = 'birthday' and a.status = 'active'
        and (to_char(c.birthday, 'MMDD') = to_char(${LOCAL_DATE}, 'MMDD')
          or (to_char(c.birthday, 'MMDD') = '0229' and to_char(${LOCAL_DATE}, 'MMDD') = '0228' and to_char(${LOCAL_DATE} + 1, 'MMDD') = '0301'))
        and ${SENDABLE} and ${notEnrolled(`'birthday-' || extract(year from ${LOCAL_DATE})`)}
      limit ?`, [...monthDays, limit]);
    due.push(...rows);
  }
  if (triggers.includes('inactive') && options.withInactive) {
    const { rows } = await knex.raw(`select a.id as automation_id, c.id as contact_id, 'inactive-' || extract(year from now()) as occasion, a.trigger
      from automations a join contacts c on c.created_at < now() - make_interval(days => :days)
      where a.trigger = 'inactive' and a.status = 'active' and ${SENDABLE}
        and not exists (select 1 from email_events ev where ev.email = lower(c.email) and ev.type in ('open', 'click') and ev.occurred_at >= now() - make_interval(days => :days))
        and not exists (select 1 from bookings b where c.customer_id is not null and b.customer_id = c.customer_id and b.created_at >= now() - make_interval(days => :days))
        and ${notEnrolled(`'inactive-' || extract(year from now())`)}
      limit :limit`, { days: INACTIVE_DAYS, limit });
    due.push(...rows);
  }
  const counts: Record<string, number> = {};
  if (!due.length) return counts;
  const temporal = await client();
  for (const d of due) {
    if (await enroll(knex, temporal, taskQueueName, d.automation_id, d.contact_id, d.occasion)) counts[d.trigger] = (counts[d.trigger] ?? 0) + 1;
  }
  return counts;
}
