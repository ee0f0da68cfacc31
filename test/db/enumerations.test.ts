/**
 * The enumerations of domain/bookings.ts against the database's check constraints: the
 * migrations spell the values out (a released migration is never edited), so this test is what
 * keeps code and database from drifting. A value added on one side only fails here.
 */
import { expect } from 'chai';
import { BOOKING_STATUSES, PAX_TYPES, PAYMENT_PROVIDERS, PAYMENT_RECORD_PROVIDERS, TERMINAL_STATUSES, OPEN_STATUSES, SOLD_STATUSES, CHANGEABLE_STATUSES } from '../../domain/bookings';
import { LANGUAGES, ROLES } from '../../models';
import { stack } from '../support/stack';

/** The quoted values of a `column in (...)` check constraint, as PostgreSQL reports it. */
async function checkValues(table: string, constraint: string): Promise<string[]> {
  const { rows } = await stack().knex.raw(
    `select pg_get_constraintdef(c.oid) as def from pg_constraint c join pg_class t on t.oid = c.conrelid
      where c.contype = 'c' and t.relname = ? and c.conname = ?`, [table, constraint]);
  expect(rows, `check constraint ${constraint} on ${table}`).to.have.length(1);
  const values = [...String(rows[0].def).matchAll(/'((?:[^']|'')*)'::/g)].map((m) => m[1].replace(/''/g, "'"));
  expect(values, rows[0].def).to.not.be.empty;
  return values;
}

const sorted = (values: readonly string[]) => [...values].sort();

describe('enumerations: domain/ and the database agree', () => {
  const cases: Array<[string, string, readonly string[]]> = [
    ['bookings', 'bookings_status', BOOKING_STATUSES],
    ['passengers', 'passengers_pax_type', PAX_TYPES],
    ['tour_prices', 'tour_prices_pax_type', PAX_TYPES],
    ['payments', 'payments_provider', PAYMENT_RECORD_PROVIDERS],
    ['users', 'users_role', ROLES],
    ['customers', 'customers_language', LANGUAGES],
    ['tour_translations', 'tour_translations_language', LANGUAGES],
  ];
  for (const [table, constraint, values] of cases) {
    it(`${table}: ${constraint} allows exactly the values in code`, async () => {
      expect(sorted(await checkValues(table, constraint))).to.deep.equal(sorted(values));
    });
  }

  it('derives the status groups from the one list (each a subset, open and terminal a partition)', () => {
    for (const group of [TERMINAL_STATUSES, OPEN_STATUSES, SOLD_STATUSES, CHANGEABLE_STATUSES]) {
      for (const s of group) expect(BOOKING_STATUSES).to.include(s);
    }
    expect(sorted([...OPEN_STATUSES, ...TERMINAL_STATUSES])).to.deep.equal(sorted(BOOKING_STATUSES));
    for (const p of PAYMENT_PROVIDERS) expect(PAYMENT_RECORD_PROVIDERS).to.include(p);
  });
});
