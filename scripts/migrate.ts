/** `npm run migrate [-- --rollback]`: apply (or undo the last batch of) migrations on DATABASE_URL. */
import { config } from '../platform/config';
import { createKnex, migrateLatest } from '../platform/db';

async function main() {
  if (!config.databaseUrl) throw new Error('DATABASE_URL is required');
  const knex = createKnex(config.databaseUrl, 1);
  try {
    if (process.argv.includes('--rollback')) {
      const [, undone] = await knex.migrate.rollback();
      console.log(undone.length ? `rolled back: ${undone.join(', ')}` : 'nothing to roll back');
    } else {
      const applied = await migrateLatest(knex);
      console.log(applied.length ? `applied: ${applied.join(', ')}` : 'schema up to date');
    }
  } finally {
    await knex.destroy();
  }
}

main().catch((err) => {
  console.error(err.message);
  process.exit(1);
});
