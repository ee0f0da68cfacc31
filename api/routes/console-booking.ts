/**
 * What the console's booking page needs beyond the booking resource: a payment link an operator
 * can hand to the customer (the same signed /pay/booking/{token} link the WhatsApp flow sends,
 * agents/multi-channel-hub/actions.ts bookingPaymentLink), and where the Temporal UI is, so a
 * booking's page can open its workflow there.
 */
import { z } from 'zod';
import { bookingPaymentLink, PAYMENT_LINK_DAYS } from '../../agents/multi-channel-hub/actions';
import { auditActor, recordAudit } from '../../models/audit';
import { isTerminalStatus } from '../../domain/bookings';
import { config } from '../../platform/config';
import { temporalConfig } from '../../temporal.config';
import { Problem } from '../http/problem';
import { route } from '../http/routes';
import { idParams } from '../schemas';
import { visibleBooking } from './bookings';

export const consoleBookingRoutes = [
  route({
    method: 'POST', path: '/api/v1/bookings/{id}/payment-link', operationId: 'createPaymentLink', tag: 'Bookings', auth: ['admin', 'operator'],
    summary: 'A signed link to the booking\'s payment page, for staff to send to the customer',
    description: `The link opens /pay/booking/{token} (the page the WhatsApp flow links to): it shows what is due now and pays it. It expires after ${PAYMENT_LINK_DAYS} days; making another does not revoke earlier ones.`,
    params: idParams,
    responses: {
      201: { description: 'The link', schema: z.object({ object: z.literal('payment_link'), bookingId: z.string(), url: z.string().describe('Absolute, on PUBLIC_URL'), expiresAt: z.string() }) },
      404: { description: 'No such booking (or not one you may see)' },
      409: { description: 'The booking is closed (cancelled, expired, failed, completed): nothing can be paid' },
    },
    handler: async (ctx, { params, principal }) => {
      const b = await visibleBooking(ctx, principal!, params.id);
      if (isTerminalStatus(b.status)) throw new Problem(409, 'booking_closed', `This booking is ${b.status}; nothing can be paid on it.`);
      const now = new Date();
      const url = bookingPaymentLink(config.publicUrl, b.id, now);
      const expiresAt = new Date(+now + PAYMENT_LINK_DAYS * 86_400_000).toISOString();
      await recordAudit(ctx.knex, { ...auditActor(ctx), action: 'booking.payment_link', entityType: 'booking', entityId: b.id, data: { expiresAt } });
      return { status: 201, body: { object: 'payment_link' as const, bookingId: b.id, url, expiresAt } };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/console/settings', operationId: 'consoleSettings', tag: 'Console', auth: ['admin', 'operator', 'accountant'],
    summary: 'Where the console links to: the Temporal UI (TEMPORAL_UI_URL, which npm start sets) and the namespace',
    responses: {
      200: {
        description: 'The settings',
        schema: z.object({
          object: z.literal('console_settings'),
          temporalUiUrl: z.string().nullable().describe('Base address of the Temporal UI; null when not configured'),
          temporalNamespace: z.string(),
        }),
      },
    },
    handler: async () => ({
      body: { object: 'console_settings' as const, temporalUiUrl: process.env.TEMPORAL_UI_URL?.replace(/\/+$/, '') || null, temporalNamespace: temporalConfig.namespace },
    }),
  }),
];
