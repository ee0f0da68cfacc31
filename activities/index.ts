/**
 * Activities: the only code that touches the outside world (database, providers). Each group
 * is built by a factory from its dependencies, so tests and production differ only in what
 * they pass in, and registered on the task queue of the workflows that call it (registry.ts).
 */
import type { Knex } from 'knex';
import type { Client } from '@temporalio/client';
import { config } from '../platform/config';
import { logger } from '../platform/logger';
import { createPaymentProviders, type PaymentEnv } from '../integrations/payments';
import { createSimulatedSupplier, type Supplier } from '../integrations/suppliers/simulated';
import { createBookingActivities } from './booking';
import { createCampaignActivities, type RenderedTemplate } from './campaign';
import { createAutomationActivities } from './automation';
import { compiledHtml } from '../models/templates';
import { createEmailProvider, type EmailProvider } from '../integrations/email';
import { emailLinkSecret } from '../platform/secrets';
import { createHousekeepingActivities } from './housekeeping';
import { activityRegistry, type ActivityGroup, type ActivityRegistry } from './registry';
import { taskQueues, temporalConfig } from '../temporal.config';
import { createFraudActivities } from './fraud';
import { ipCountryTable } from '../agents/fraud-guardian/core';
import { createBookingMessageActivities } from './messaging/booking-messages';
import { createAgentActivityGroups, type AgentModelFor, type ModelCaller } from './agents/run';
import { createConversationActivities } from './conversations';
import { createInlineRunner } from './agents/inline';
import { agentDefinition } from '../agents';
import { createWhatsAppChannel, type WhatsAppChannel } from '../integrations/whatsapp';

export interface ActivityDeps {
  knex: Knex;
  /** For activities that start workflows (the booking-workflow reconciler). */
  temporal?: () => Promise<Client>;
  /** Starts a booking's workflow, idempotently (the worker wires services/booking-workflows.ts here). */
  startBookingWorkflow?: (bookingId: string) => Promise<void>;
  env?: PaymentEnv;
  supplier?: Supplier;
  timeScale?: number;
  publicUrl?: string;
  emailProvider?: EmailProvider;
  campaignBatchSize?: number;
  /** The chat model of an agent's runs (model mode), or undefined for core mode; tests inject fake models. */
  agentModelFor?: AgentModelFor;
  callModel?: ModelCaller;
  /** The WhatsApp channel this worker sends through (default: the one WHATSAPP_CHANNEL names, built on first use). */
  whatsapp?: WhatsAppChannel;
  /** WHATSAPP_QUIET_HOURS for booking messages (default config.whatsapp.quietHours). */
  whatsappQuietHours?: string;
}

/** A template's compiled HTML (cached per version); the `{{variables}}` stay for per-recipient substitution. */
function templateRenderer(knex: Knex) {
  return async (templateId: string): Promise<RenderedTemplate> => {
    const t = await knex('email_templates').where({ id: templateId }).first();
    if (!t) throw new Error(`template ${templateId} does not exist`);
    return { subject: t.subject, html: await compiledHtml(t), text: t.text, kind: t.kind };
  };
}

/**
 * The activity groups, each on the task queue its workflows run on (workflows schedule their
 * activities on their own queue): bookings — the booking lifecycle and its saga; marketing —
 * campaigns and automations; platform — housekeeping. Put together by `activityRegistry`, which
 * refuses a name declared twice.
 */
export function createActivityGroups(deps: ActivityDeps): ActivityGroup[] {
  const publicUrl = deps.publicUrl ?? config.publicUrl;
  let email: EmailProvider | undefined;
  const linkSecret = emailLinkSecret();
  const provider = () => (email ??= deps.emailProvider ?? createEmailProvider({ env: deps.env ?? process.env, dataDir: config.dataDir, publicUrl, linkSecret }));
  const renderTemplate = templateRenderer(deps.knex);
  // One channel per worker process, shared by conversation replies and booking messages (and its per-number rate with them).
  let whatsapp: WhatsAppChannel | undefined;
  const agentTemporal = deps.temporal ?? (() => Promise.reject(new Error('agent tools need a Temporal client (ActivityDeps.temporal)')));
  const whatsappChannel = () => (whatsapp ??= deps.whatsapp ?? createWhatsAppChannel({ knex: deps.knex }));
  return [
    {
      name: 'booking',
      queue: taskQueues.bookings,
      activities: createBookingActivities({
        knex: deps.knex,
        providers: createPaymentProviders({ knex: deps.knex, publicUrl, env: deps.env ?? process.env }),
        supplier: deps.supplier ?? createSimulatedSupplier({ knex: deps.knex, latencyMs: config.supplier.latencyMs, failureRate: config.supplier.failureRate }),
        publicUrl,
        timeScale: deps.timeScale ?? config.bookingTimeScale,
        temporal: deps.temporal,
        startBookingWorkflow: deps.startBookingWorkflow,
        fraudCheck: config.fraud.check,
      }),
    },
    {
      name: 'campaign',
      queue: taskQueues.marketing,
      activities: createCampaignActivities({
        knex: deps.knex,
        provider,
        renderTemplate,
        publicUrl,
        linkSecret,
        from: config.email.from,
        batchSize: deps.campaignBatchSize ?? config.email.campaignBatchSize,
        staleClaimSeconds: config.email.staleClaimSeconds,
      }),
    },
    {
      name: 'automation',
      queue: taskQueues.marketing,
      activities: createAutomationActivities({ knex: deps.knex, provider, renderTemplate, publicUrl, linkSecret, from: config.email.from }),
    },
    // FraudGuardian's check inside the booking saga: on the bookings queue, so a worker polling only it completes payments.
    {
      name: 'fraud', queue: taskQueues.bookings, prefix: 'fraud.',
      activities: createFraudActivities({ knex: deps.knex, rules: () => config.fraud.rules, ipTable: fraudIpTable(), runIdPrefix: temporalConfig.taskQueuePrefix, log: (msg, meta) => logger.warn(meta, msg) }),
    },
    { name: 'housekeeping', queue: taskQueues.platform, activities: createHousekeepingActivities(deps) },
    // Booking emails and WhatsApp messages, delivered by the message dispatcher (marketing queue), never inside a saga.
    { name: 'bookingmessage', queue: taskQueues.marketing, prefix: 'messages.', activities: createBookingMessageActivities({
        knex: deps.knex, provider, from: config.email.from, publicUrl, whatsapp: whatsappChannel, quietHours: () => deps.whatsappQuietHours ?? config.whatsapp.quietHours,
      }),
    },
    // Conversations (one workflow per customer and business number) beside the MultiChannelHub runs they start.
    {
      name: 'conversation', queue: taskQueues.agents, prefix: 'conversation.',
      activities: createConversationActivities({
        knex: deps.knex, whatsapp: whatsappChannel, runIdPrefix: temporalConfig.taskQueuePrefix,
        // Core mode: the hub runs inside each conversation turn; with a model, as its own workflow.
        runHubInline: deps.agentModelFor?.('MultiChannelHub') ? undefined
          : createInlineRunner({ knex: deps.knex, publicUrl, temporal: agentTemporal, agentOf: agentDefinition }),
        idleCloseMs: () => Math.round(config.whatsapp.idleCloseMinutes * 60_000), log: (msg, meta) => logger.warn(meta, msg),
      }),
    },
    // Agent runs (agent.*) and every registered agent's tools (tool.*), on the agents queue.
    ...createAgentActivityGroups({
      knex: deps.knex, publicUrl, modelFor: deps.agentModelFor, callModel: deps.callModel,
      temporal: agentTemporal,
    }),
  ];
}

/** FRAUD_IP_COUNTRIES, parsed once per process; bad entries are said at start and skipped. */
let ipTable: ReturnType<typeof ipCountryTable> | undefined;
export function fraudIpTable() {
  if (!ipTable) {
    ipTable = ipCountryTable(config.fraud.ipCountries);
    if (ipTable.problems.length) logger.warn({ problems: ipTable.problems }, 'FRAUD_IP_COUNTRIES: entries skipped');
  }
  return ipTable;
}

/** Every activity, by the queue its worker registers it on. */
export function createActivities(deps: ActivityDeps): ActivityRegistry {
  return activityRegistry(createActivityGroups(deps));
}
