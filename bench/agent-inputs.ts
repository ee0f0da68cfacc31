/**
 * What `npm run bench -- agents` asks each agent to do on the demo data. A periodic agent runs
 * over everything in scope with `{}`; an event agent gets the occasion it would get from its
 * trigger, picked from the demo data.
 */
import type { Knex } from 'knex';

type InputFor = (knex: Knex) => Promise<unknown>;

const INPUTS: Record<string, InputFor> = {
};

export async function benchInputFor(agent: string, knex: Knex): Promise<unknown> {
  const make = INPUTS[agent];
  return make ? make(knex) : {};
}
