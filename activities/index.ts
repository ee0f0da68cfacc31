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
import { createHousekeepingActivities } from './housekeeping';

export interface ActivityDeps {
  knex: Knex;
  /** For activities that start workflows (the booking-workflow reconciler). */
  temporal?: () => Promise<Client>;
  env?: PaymentEnv;
  supplier?: Supplier;
  timeScale?: number;
  publicUrl?: string;
}

export function createActivities(deps: ActivityDeps) {
  const publicUrl = deps.publicUrl ?? config.publicUrl;
  return {
    ...createHousekeepingActivities(deps),
    ...createBookingActivities({
      knex: deps.knex,
      providers: createPaymentProviders({ knex: deps.knex, publicUrl, env: deps.env ?? process.env }),
      supplier: deps.supplier ?? createSimulatedSupplier({ knex: deps.knex, latencyMs: config.supplier.latencyMs, failureRate: config.supplier.failureRate }),
      publicUrl,
      timeScale: deps.timeScale ?? config.bookingTimeScale,
      temporal: deps.temporal,
    }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
