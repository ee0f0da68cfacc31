/**
 * Exactly-once answers for acting tools: `once(ctx, tool, act)` runs `act` the first time a tool
 * call (its step key) is seen and records what it answered; a retry of the same call answers the
 * recorded outcome without acting again. What `act` changes should itself be keyed by
 * `ctx.stepKey` (an update id, a dedupe key), so a crash between acting and recording is safe too.
 */
import type { ToolContext } from './types';

export async function recordedOutcome<T>(ctx: Pick<ToolContext, 'knex' | 'stepKey'>): Promise<T | undefined> {
  const row = await ctx.knex('agent_tool_outcomes').where({ step_key: ctx.stepKey }).first('outcome');
  return row ? (row.outcome as T) : undefined;
}

export async function once<T>(ctx: Pick<ToolContext, 'knex' | 'stepKey' | 'runId'>, tool: string, act: () => Promise<T>): Promise<T> {
  const recorded = await recordedOutcome<T>(ctx);
  if (recorded !== undefined) return recorded;
  const outcome = await act();
  const inserted = await ctx.knex('agent_tool_outcomes')
    .insert({ step_key: ctx.stepKey, run_id: ctx.runId, tool, outcome: JSON.stringify(outcome ?? null) })
    .onConflict('step_key').ignore().returning('step_key');
  if (inserted.length) return outcome;
  // Another attempt recorded first: its answer is the answer.
  return (await recordedOutcome<T>(ctx)) as T;
}
