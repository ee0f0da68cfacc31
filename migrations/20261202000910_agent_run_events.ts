/**
 * Agent runs on the console's live stream: a run's status or steps changing NOTIFYs
 * `console_events` (kind agent_run), so the Agents screen and a run's page follow it live.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create function console_notify_agent_run() returns trigger language plpgsql as $$
    begin
      perform console_notify(jsonb_build_object('kind', 'agent_run', 'id', new.id, 'type', new.agent, 'status', new.status));
      return null;
    end $$;
    create trigger agent_runs_console_insert after insert on agent_runs
      for each row execute function console_notify_agent_run();
    create trigger agent_runs_console_update after update of status, steps on agent_runs
      for each row when (old.status is distinct from new.status or old.steps is distinct from new.steps)
      execute function console_notify_agent_run();
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    drop trigger if exists agent_runs_console_update on agent_runs;
    drop trigger if exists agent_runs_console_insert on agent_runs;
    drop function if exists console_notify_agent_run();
  `);
}
