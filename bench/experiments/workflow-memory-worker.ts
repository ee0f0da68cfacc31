/**
 * A worker process of one Worker, for bench/workflow-memory.ts: the platform's workflow bundle with
 * stand-in booking activities (no database), or the bench's no-op bundle. It prints a JSON line
 * every 500 ms: how many workflows reached their sleep, and its memory.
 *
 * Environment: WM_ADDRESS (Temporal), WM_TASK_QUEUE, WM_BUNDLE (path of a prebuilt bundle),
 * WM_KIND (booking | noop), WM_MAX_CACHED_WORKFLOWS (optional).
 */
import crypto from 'node:crypto';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { DEFAULT_BOOKING_RULES } from '../../domain/booking-rules';
import type { BookingSnapshot } from '../../activities/booking';

Runtime.install({ logger: new DefaultLogger('WARN') });
const kind = process.env.WM_KIND === 'booking' ? 'booking' : 'noop';
let asleep = 0;

/** A held booking 60 days out on a deposit plan, as loadBooking would read it; the hold expires in 15 minutes. */
function snapshot(bookingId: string): BookingSnapshot {
  const departureAt = new Date(Date.now() + 60 * 86_400_000);
  return {
    bookingId, reference: `ST-${crypto.randomBytes(4).toString('hex').toUpperCase()}`, status: 'held',
    branchId: '00000000-0000-4000-8000-000000000001', customerId: '00000000-0000-4000-8000-000000000002', partnerId: null,
    departureId: '00000000-0000-4000-8000-000000000003', departureAt: departureAt.toISOString(),
    departureEndAt: new Date(+departureAt + 7_200_000).toISOString(), paxCount: 2, currency: 'EUR', payableMinor: 20000,
    depositMinor: 6000, plan: 'deposit', holdExpiresAt: new Date(Date.now() + 15 * 60_000).toISOString(),
    balanceDueAt: new Date(+departureAt - 30 * 86_400_000).toISOString(), amountPaidMinor: 0,
    rules: { ...DEFAULT_BOOKING_RULES, timeScale: 1 }, components: [], captured: [],
  };
}

const activities = kind === 'booking'
  ? {
    loadBooking: async (bookingId: string) => snapshot(bookingId),
    markWorkflowStarted: async () => void asleep++, // the workflow's last activity before it waits for the hold to lapse
  }
  : {
    noop: async (step: number) => {
      if (step === 1) asleep++; // noopShapedWorkflow({ before: 2 }): its last activity before it waits for the update
      return step;
    },
  };

async function main() {
  const connection = await NativeConnection.connect({ address: process.env.WM_ADDRESS! });
  const worker = await Worker.create({
    connection, taskQueue: process.env.WM_TASK_QUEUE!, workflowBundle: { codePath: process.env.WM_BUNDLE! }, activities,
    ...(process.env.WM_MAX_CACHED_WORKFLOWS ? { maxCachedWorkflows: Number(process.env.WM_MAX_CACHED_WORKFLOWS) } : {}),
  });
  const mb = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;
  setInterval(() => {
    const m = process.memoryUsage();
    process.stdout.write(`${JSON.stringify({ asleep, rssMb: mb(m.rss), heapUsedMb: mb(m.heapUsed), maxCachedWorkflows: worker.options.maxCachedWorkflows })}\n`);
  }, 500).unref();
  await worker.run();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
