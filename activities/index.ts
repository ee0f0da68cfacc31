/**
 * Activities: the only code that touches the outside world (database, providers). Each group
 * is built by a factory from its dependencies, so tests and production differ only in what
 * they pass in.
 */
import type { Knex } from 'knex';
import type { Client } from '@temporalio/client';
import { config } from '../platform/config';
import { createPaymentProviders, type PaymentEnv } from '../integrations/payments';
import { createSimulatedSupplier, type Supplier } from '../integrations/suppliers/simulated';
import { createBookingActivities } from './booking';
import { createCampaignActivities, type RenderedTemplate } from './campaign';
import { createAutomationActivities } from './automation';
import { compiledHtml } from '../models/templates';
import { createEmailProvider, type EmailProvider } from '../integrations/email';
import { emailLinkSecret } from '../platform/secrets';
import { createHousekeepingActivities } from './housekeeping';
import { createBookingMessageActivities } from './messaging/booking-messages';

export interface ActivityDeps {
  knex: Knex;
  /** For activities that start workflows (the booking-workflow reconciler). */
  temporal?: () => Promise<Client>;
  env?: PaymentEnv;
  supplier?: Supplier;
  timeScale?: number;
  publicUrl?: string;
  emailProvider?: EmailProvider;
  campaignBatchSize?: number;
}

/** A template's compiled HTML (cached per version); the `{{variables}}` stay for per-recipient substitution. */
function templateRenderer(knex: Knex) {
  return async (templateId: string): Promise<RenderedTemplate> => {
    const t = await knex('email_templates').where({ id: templateId }).first();
    if (!t) throw new Error(`template ${templateId} does not exist`);
    return { subject: t.subject, html: await compiledHtml(t), text: t.text, kind: t.kind };
  };
}

export function createActivities(deps: ActivityDeps) {
  const publicUrl = deps.publicUrl ?? config.publicUrl;
  let email: EmailProvider | undefined;
  const linkSecret = emailLinkSecret();
  const provider = () => (email ??= deps.emailProvider ?? createEmailProvider({ env: deps.env ?? process.env, dataDir: config.dataDir, publicUrl, linkSecret }));
  const renderTemplate = templateRenderer(deps.knex);
  return {
    ...createAutomationActivities({ knex: deps.knex, provider, renderTemplate, publicUrl, linkSecret, from: config.email.from }),
    ...createCampaignActivities({
      knex: deps.knex,
      provider,
      renderTemplate,
      publicUrl,
      linkSecret,
      from: config.email.from,
      batchSize: deps.campaignBatchSize ?? config.email.campaignBatchSize,
      staleClaimSeconds: config.email.staleClaimSeconds,
    }),
    ...createHousekeepingActivities(deps),
    ...createBookingMessageActivities({ knex: deps.knex, provider, from: config.email.from, publicUrl }),
    ...createBookingActivities({
      knex: deps.knex,
      providers: createPaymentProviders({ knex: deps.knex, publicUrl, env: deps.env ?? process.env }),
      supplier: deps.supplier ?? createSimulatedSupplier({ knex: deps.knex, latencyMs: config.supplier.latencyMs, failureRate: config.supplier.failureRate }),
      publicUrl,
      timeScale: deps.timeScale ?? config.bookingTimeScale,
      temporal: deps.temporal,
      email: { provider, from: config.email.from },
    }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
