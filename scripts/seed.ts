/** `npm run seed`: load the demo data into DATABASE_URL (idempotent; refused in production). */
import { config } from '../platform/config';
import { createKnex } from '../platform/db';
import { seedDemo } from './demo-seed';

async function main() {
  if (!config.databaseUrl) throw new Error('DATABASE_URL is required');
  const knex = createKnex(config.databaseUrl, 1);
  try {
    console.log(await seedDemo(knex));
  } finally {
    await knex.destroy();
  }
}

main().catch((err) => {
  console.error(err.message);
  process.exit(1);
});
