/**
 * The WhatsApp channel this process uses, chosen by WHATSAPP_CHANNEL (platform/config.ts).
 * Each channel is built once per process by its owner (the worker for sending; the API only
 * receives through webhooks and reads the session state from the database).
 *
 * - simulator: writes to whatsapp_simulator_messages (integrations/whatsapp/simulator.ts);
 * - cloud: Meta's Graph API over plain fetch (integrations/whatsapp/cloud.ts);
 * - web: whatsapp-web.js (integrations/whatsapp/web.ts). Its client lives in the worker process
 *   that sends (workers/main.ts starts it at boot, with the inbound path wired in, and passes it
 *   to the activities); built here without an inbound handler it can only send.
 */
import type { Knex } from 'knex';
import { config } from '../../platform/config';
import { readWhatsAppSession } from '../../models/whatsapp';
import { CloudChannel } from './cloud';
import { rateLimited } from './rate';
import { SimulatorChannel } from './simulator';
import { WebChannel, type WebChannelOptions } from './web';
import type { ChannelHealth, WhatsAppChannel } from './types';

export * from './types';

export interface ChannelOptions {
  knex: Knex;
  settings?: typeof config.whatsapp;
  /** whatsapp-web.js only: where customers' messages go, and the client factory (tests pass a fake). */
  web?: Partial<WebChannelOptions>;
}

/** The channel WHATSAPP_CHANNEL names, limited to WHATSAPP_MESSAGES_PER_SECOND per business number in this process (rate.ts). */
export function createWhatsAppChannel(options: ChannelOptions): WhatsAppChannel {
  const settings = options.settings ?? config.whatsapp;
  return rateLimited(channelOf(options, settings), { messagesPerSecond: settings.messagesPerSecond });
}

function channelOf(options: ChannelOptions, settings: typeof config.whatsapp): WhatsAppChannel {
  switch (settings.channel) {
    case 'simulator': return new SimulatorChannel(options.knex, settings.phoneNumberId);
    case 'cloud': return new CloudChannel(settings);
    case 'web': {
      const channel = new WebChannel({ knex: options.knex, dataDir: config.dataDir, chromiumPath: settings.chromiumPath, businessId: settings.phoneNumberId, ...options.web });
      void channel.start();
      return channel;
    }
    default: throw new Error(`WHATSAPP_CHANNEL=${settings.channel} is not available in this build`);
  }
}

/**
 * The channel's state as /health and the admin session endpoint show it, from any process: the
 * simulator is ready; the Cloud API is ready when configured (no call is made); whatsapp-web.js
 * is what its worker last wrote to whatsapp_sessions.
 */
export async function whatsAppHealth(knex: Knex, settings = config.whatsapp): Promise<ChannelHealth & { updatedAt?: string }> {
  if (settings.channel === 'simulator') return new SimulatorChannel(knex, settings.phoneNumberId).health();
  if (settings.channel === 'cloud') {
    const health = new CloudChannel(settings).health();
    if (health.state === 'ready' && (!settings.appSecret || !settings.verifyToken)) {
      return { ...health, state: 'misconfigured', detail: `sending is configured; the webhook is not (${[!settings.appSecret && 'WHATSAPP_APP_SECRET', !settings.verifyToken && 'WHATSAPP_VERIFY_TOKEN'].filter(Boolean).join(', ')} missing)` };
    }
    return health;
  }
  if (settings.channel === 'web') {
    const session = await readWhatsAppSession(knex, 'web');
    if (!session) return { channel: 'web', state: 'starting', detail: 'no worker has started the whatsapp-web.js session yet' };
    const detail = session.state === 'qr' ? 'scan the QR code (GET /api/v1/whatsapp/session, or the worker\'s terminal) with the business phone' : session.detail ?? undefined;
    return { channel: 'web', state: session.state, ...(detail ? { detail } : {}), updatedAt: session.updatedAt };
  }
  return { channel: settings.channel, state: 'misconfigured', detail: `unknown WHATSAPP_CHANNEL ${settings.channel as string}` };
}

/** One line for the start-up log: which channel, and whether it reaches anybody real. */
export function describeWhatsApp(settings = config.whatsapp): string {
  if (settings.channel === 'simulator') return 'whatsapp: local simulator (nobody real receives messages; `npm run chat` to talk to it)';
  if (settings.channel === 'cloud') return `whatsapp: Cloud API, phone number id ${settings.phoneNumberId}, ${settings.graphApiBase}`;
  return 'whatsapp: whatsapp-web.js (unofficial; the number may be banned)';
}
