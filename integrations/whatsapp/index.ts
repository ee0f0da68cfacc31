/**
 * The WhatsApp channel this process uses, chosen by WHATSAPP_CHANNEL (platform/config.ts).
 * Each channel is built once per process by its owner (the worker for sending; the API only
 * receives through webhooks and reads the session state from the database).
 */
import type { Knex } from 'knex';
import { config } from '../../platform/config';
import { rateLimited } from './rate';
import { SimulatorChannel } from './simulator';
import type { WhatsAppChannel } from './types';

export * from './types';

export interface ChannelOptions {
  knex: Knex;
  settings?: typeof config.whatsapp;
}

/** The channel WHATSAPP_CHANNEL names, limited to WHATSAPP_MESSAGES_PER_SECOND per business number in this process (rate.ts). */
export function createWhatsAppChannel(options: ChannelOptions): WhatsAppChannel {
  const settings = options.settings ?? config.whatsapp;
  return rateLimited(channelOf(options, settings), { messagesPerSecond: settings.messagesPerSecond });
}

function channelOf(options: ChannelOptions, settings: typeof config.whatsapp): WhatsAppChannel {
  switch (settings.channel) {
    case 'simulator': return new SimulatorChannel(options.knex, settings.phoneNumberId);
    default: throw new Error(`WHATSAPP_CHANNEL=${settings.channel} is not available in this build`);
  }
}

/** One line for the start-up log: which channel, and whether it reaches anybody real. */
export function describeWhatsApp(settings = config.whatsapp): string {
  if (settings.channel === 'simulator') return 'whatsapp: local simulator (nobody real receives messages; `npm run chat` to talk to it)';
  if (settings.channel === 'cloud') return `whatsapp: Cloud API, phone number id ${settings.phoneNumberId}, ${settings.graphApiBase}`;
  return 'whatsapp: whatsapp-web.js (unofficial; the number may be banned)';
}
