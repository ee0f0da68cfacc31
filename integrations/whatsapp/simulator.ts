/**
 * The local WhatsApp simulator (WHATSAPP_CHANNEL=simulator, the development default): what the
 * platform sends is written to `whatsapp_simulator_messages`, where the simulator's HTTP endpoint
 * and `npm run chat` read it; what a simulated customer types enters through the same code path
 * as a Cloud API webhook. It answers nobody real and says so in /health.
 */
import type { Knex } from 'knex';
import crypto from 'node:crypto';
import type { ChannelHealth, OutboundWhatsApp, SendResult, WhatsAppChannel } from './types';

export class SimulatorChannel implements WhatsAppChannel {
  readonly kind = 'simulator' as const;
  constructor(private readonly knex: Knex, readonly businessId: string) {}

  async send(to: string, message: OutboundWhatsApp, key: string): Promise<SendResult> {
    // The same key gets the same wamid; `sends` counts hand-overs, so a resend would show (tests assert one).
    const wamid = `wamid.SIM.${crypto.createHash('sha256').update(key).digest('hex').slice(0, 32)}`;
    await this.knex('whatsapp_simulator_messages').insert({ wamid, business_number: this.businessId, to_number: to, message: JSON.stringify(message) }).onConflict('wamid').merge({ sends: this.knex.raw('whatsapp_simulator_messages.sends + 1') });
    return { providerMessageId: wamid };
  }

  health(): ChannelHealth {
    return { channel: 'simulator', state: 'ready', detail: 'local simulator: messages go to whatsapp_simulator_messages, nobody real receives them' };
  }
}

/** What the platform sent to a simulated customer after a given id (for the chat and tests). */
export async function simulatorOutbox(knex: Knex, to: string, afterId = 0, limit = 50): Promise<Array<{ id: number; wamid: string; message: OutboundWhatsApp; createdAt: string }>> {
  const rows = await knex('whatsapp_simulator_messages').where({ to_number: to }).where('id', '>', afterId).orderBy('id').limit(limit);
  return rows.map((r) => ({ id: Number(r.id), wamid: r.wamid, message: r.message, createdAt: new Date(r.created_at).toISOString() }));
}
