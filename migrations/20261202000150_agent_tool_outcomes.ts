/**
 * What an acting agent tool answered, by its step key (stable across retries of one tool call):
 * a retried call answers what its first attempt answered (agents/outcomes.ts).
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`create table agent_tool_outcomes (
    step_key text primary key,
    run_id text not null,
    tool varchar(80) not null,
    outcome jsonb not null,
    recorded_at timestamptz not null default now()
  )`);
  await knex.raw('create index agent_tool_outcomes_run on agent_tool_outcomes (run_id)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop table agent_tool_outcomes');
}
