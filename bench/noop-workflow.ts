/**
 * Bench-only workflows (bundled by bench/booking.ts for an in-process worker on its own task
 * queue): the Temporal cost of a booking without the booking. Deterministic workflow code only.
 *
 * noopWorkflow: `activities` no-op activities in sequence, then it completes.
 * noopShapedWorkflow: a booking's shape: `before` activities, then it waits for the `go` update
 *   (the API's pay is an update-with-start), whose handler runs `after` activities and answers;
 *   then the workflow completes.
 * noopMixedWorkflow: an agent run's shape: `local` local no-op activities (its bookkeeping) and
 *   `activities` no-op activities (its tools and core), `parallel` of them at once (its gather).
 * Activity options are the booking workflow's `db` options.
 */
import { condition, defineUpdate, proxyActivities, proxyLocalActivities, setHandler } from '@temporalio/workflow';

export interface NoopActivities {
  noop(step: number): Promise<number>;
}

const { noop } = proxyActivities<NoopActivities>({
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '200 milliseconds', maximumInterval: '10 seconds', backoffCoefficient: 2 },
});

const local = proxyLocalActivities<NoopActivities>({ startToCloseTimeout: '15 seconds' });

export const goUpdate = defineUpdate<number, []>('go');

export async function noopWorkflow(input: { activities: number }): Promise<number> {
  let sum = 0;
  for (let i = 0; i < input.activities; i++) sum += await noop(i);
  return sum;
}

export async function noopShapedWorkflow(input: { before: number; after: number }): Promise<number> {
  let sum = 0;
  let ready = false;
  let done = false;
  // As in bookingWorkflow: the handler is set first; the command runs once the first activities are done.
  setHandler(goUpdate, async () => {
    await condition(() => ready);
    for (let i = 0; i < input.after; i++) sum += await noop(input.before + i);
    done = true;
    return sum;
  });
  for (let i = 0; i < input.before; i++) sum += await noop(i);
  ready = true;
  await condition(() => done);
  return sum;
}

export async function noopMixedWorkflow(input: { local: number; activities: number; parallel: number }): Promise<number> {
  let sum = 0;
  const localFirst = Math.ceil(input.local / 2);
  for (let i = 0; i < localFirst; i++) sum += await local.noop(i);
  const parallel = Math.min(input.parallel, input.activities);
  sum += (await Promise.all(Array.from({ length: parallel }, (_, i) => noop(i)))).reduce((a, b) => a + b, 0);
  for (let i = parallel; i < input.activities; i++) sum += await noop(i);
  for (let i = localFirst; i < input.local; i++) sum += await local.noop(i);
  return sum;
}
