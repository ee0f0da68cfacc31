/** RevenueMaximizer's tools: the facts of upcoming departures of priced tours, and applying approved price changes. */
import { z } from 'zod';
import { defineTool } from '../types';
import { once } from '../outcomes';
import type { CurvePoint, DepartureFacts } from './core';
import { describeChange } from './core';

export const departuresInput = z.object({
  tourCodes: z.array(z.string().min(1).max(32)).max(100).optional().describe('Only these tours (default: every tour with a price floor and ceiling)'),
  horizonDays: z.int().min(1).max(365).default(90).describe('Departures starting within this many days'),
});

export const departuresTool = defineTool({
  name: 'revenue.departures',
  description: 'Upcoming open departures of tours that have a price floor and ceiling: capacity, seats sold, the tour\'s booking curve, the price adjustment in effect and the adult base price.',
  effect: 'read', needsApproval: false,
  input: departuresInput,
  run: async (ctx, input): Promise<DepartureFacts[]> => {
    const now = ctx.now();
    const q = ctx.knex('departures as d').join('tours as t', 't.id', 'd.tour_id')
      .where('t.status', 'active').whereNotNull('t.price_floor_bp')
      .whereIn('d.status', ['scheduled', 'guaranteed'])
      .where('d.starts_at', '>', now).where('d.starts_at', '<=', new Date(+now + input.horizonDays * 86_400_000))
      .orderBy([{ column: 'd.starts_at' }, { column: 'd.id' }])
      .select('d.id', 'd.starts_at', 'd.capacity', 'd.seats_sold', 'd.price_overrides', 't.code', 't.currency', 't.price_floor_bp', 't.price_ceiling_bp', 't.booking_curve',
        ctx.knex.raw(`(select p.amount_minor from tour_prices p where p.tour_id = t.id and p.pax_type = 'adult') as adult_minor`),
        ctx.knex.raw(`(select a.adjustment_bp from departure_price_adjustments a where a.departure_id = d.id and a.effective_from <= ?
          order by a.effective_from desc, a.created_at desc limit 1) as current_bp`, [now]));
    if (input.tourCodes?.length) q.whereIn('t.code', input.tourCodes);
    const rows = await q;
    return rows.map((r) => ({
      departureId: r.id, tourCode: r.code, startsAt: new Date(r.starts_at).toISOString(), currency: r.currency,
      capacity: r.capacity, seatsSold: r.seats_sold, floorBp: r.price_floor_bp, ceilingBp: r.price_ceiling_bp,
      curve: (r.booking_curve as CurvePoint[] | null) ?? null, currentBp: r.current_bp ?? 0,
      adultBaseMinor: r.price_overrides?.adult ?? (r.adult_minor === null ? null : Number(r.adult_minor)),
    }));
  },
});

const change = z.object({
  departureId: z.uuid(),
  tourCode: z.string(),
  startsAt: z.string(),
  currency: z.string().length(3),
  fromBp: z.int(),
  toBp: z.int().min(-9999).max(40000),
  adultBaseMinor: z.int().nullable(),
  reason: z.string().max(500),
});

export const applyPriceChangesTool = defineTool({
  name: 'revenue.applyPriceChanges',
  description: 'Sets the price adjustment of each listed departure (basis points of its base price) from now on. New holds are priced with it; existing holds and bookings keep their price.',
  effect: 'act', needsApproval: true,
  input: z.object({ changes: z.array(change).min(1).max(200) }),
  describe: (input) => [
    `Change the price of ${input.changes.length} departure${input.changes.length === 1 ? '' : 's'} from approval on (holds and bookings already made keep their price):`,
    ...input.changes.map((c) => `- ${describeChange(c)}`),
  ].join('\n'),
  run: (ctx, input) => once(ctx, 'revenue.applyPriceChanges', async () => {
    const effectiveFrom = ctx.now();
    const ids: string[] = [];
    await ctx.knex.transaction(async (trx) => {
      for (const c of input.changes) {
        const stepKey = `${ctx.stepKey}/${c.departureId}`;
        await trx('departure_price_adjustments').insert({
          departure_id: c.departureId, adjustment_bp: c.toBp, reason: c.reason, approved_by_run: ctx.runId, step_key: stepKey, effective_from: effectiveFrom,
        }).onConflict('step_key').ignore();
        ids.push((await trx('departure_price_adjustments').where({ step_key: stepKey }).first('id')).id);
      }
    });
    return { applied: input.changes.length, adjustmentIds: ids, effectiveFrom: effectiveFrom.toISOString() };
  }),
});
