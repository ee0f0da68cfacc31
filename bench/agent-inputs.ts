/**
 * What `npm run bench -- agents` asks each agent to do on the demo data. A periodic agent runs
 * over everything in scope with `{}`; an event agent gets the occasion it would get from its
 * trigger, picked from the demo data.
 */
import crypto from 'node:crypto';
import type { Knex } from 'knex';
import { openConversation, recordInbound } from '../models/conversations';
import { placeHold } from '../models/holds';

type InputFor = (knex: Knex) => Promise<unknown>;

const DAY = 86_400_000;

const INPUTS: Record<string, InputFor> = {
  // Re-scores a fresh hold of the demo customer (no payment attempted yet: what is due now, by an unknown card).
  FraudGuardian: async (knex) => {
    const customer = await knex('customers').whereRaw('lower(email) = ?', ['customer@demo.test']).first('id');
    const user = await knex('users').where({ email: 'customer@demo.test' }).first('id');
    const d = await knex('departures').where('status', 'scheduled').where('starts_at', '>', new Date(Date.now() + 30 * DAY)).whereRaw('capacity - seats_held - seats_sold >= 2').orderBy('starts_at').first('id');
    const hold = await placeHold(knex, {
      departureId: d.id, passengers: [{ type: 'adult', firstName: 'Bench', lastName: 'Fraud' }, { type: 'adult', firstName: 'Bench', lastName: 'Fraud' }],
      contact: { name: 'Bench Fraud', email: 'customer@demo.test', phone: '+34600111222' }, language: 'en',
      customerId: customer.id, partnerId: null, onAccount: false, createdByUserId: user.id,
    });
    return { bookingId: hold.bookingId };
  },
  // A web-chat message asking for availability, stored as the inbound route stores it.
  MultiChannelHub: async (knex) => {
    const conversation = await openConversation(knex, { channel: 'web', customerHandle: `bench-${crypto.randomUUID()}@example.com`, businessHandle: 'web' });
    const channelMessageId = `bench-${crypto.randomUUID()}`;
    const { message } = await recordInbound(knex, { conversationId: conversation.id, channelMessageId, text: '¿Hay plazas para 2 personas en el tour de Toledo el próximo sábado?' });
    return {
      conversationId: conversation.id, messageId: message.id, channelMessageId, channel: 'web', text: message.text,
      receivedAt: new Date(message.created_at).toISOString(), verified: false, timeZone: 'Europe/Madrid',
    };
  },
  // A supplier failure over the coming week (the demo's Madrid guides).
  SupplyChain: async () => ({ supplier: 'Guías de Madrid', from: new Date(Date.now() + DAY).toISOString(), to: new Date(Date.now() + 8 * DAY).toISOString() }),
  // One departure of a tour with no departure minimum: assessed, nothing to approve (`{}` would propose the demo's no-go departures).
  RiskManager: async (knex) => {
    const d = await knex('departures as d').join('tours as t', 't.id', 'd.tour_id').whereNull('t.min_departure_pax').where('d.status', 'scheduled')
      .where('d.starts_at', '>', new Date()).orderBy('d.starts_at').first('d.id');
    return d ? { departureId: d.id } : {};
  },
  // An incident at Madrid's Puerta del Sol (5 km: MAD-PRADO and MAD-TAPAS meet inside) on the day of the next MAD-PRADO departure.
  CrisisManager: async (knex) => {
    const d = await knex('departures as d').join('tours as t', 't.id', 'd.tour_id').where('t.code', 'MAD-PRADO').where('d.starts_at', '>', knex.fn.now())
      .orderBy('d.starts_at').first('d.starts_at');
    const from = d ? new Date(d.starts_at) : new Date();
    return {
      incidentId: `bench-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`, lat: 40.4169, lng: -3.7035, radiusKm: 5,
      from: from.toISOString(), to: new Date(from.getTime() + 12 * 3_600_000).toISOString(), message: 'Bench: a demonstration near Puerta del Sol.',
    };
  },
};

export async function benchInputFor(agent: string, knex: Knex): Promise<unknown> {
  const make = INPUTS[agent];
  return make ? make(knex) : {};
}
