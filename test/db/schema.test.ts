import { expect } from 'chai';
import type { Knex } from 'knex';
import { createKnex, migrateLatest } from '../../platform/db';
import { seedDemo } from '../../scripts/demo-seed';
import { stack } from '../support/stack';

async function rejects(promise: Promise<unknown>, constraint: string) {
  try {
    await promise;
  } catch (err) {
    expect((err as { constraint?: string }).constraint, (err as Error).message).to.equal(constraint);
    return;
  }
  expect.fail(`expected the database to refuse with ${constraint}`);
}

describe('schema', () => {
  let knex: Knex;
  before(() => {
    knex = stack().knex;
  });

  it('never lets held + sold exceed capacity, whatever the code does', async () => {
    const departure = await knex('departures').first();
    await rejects(knex('departures').where({ id: departure.id }).update({ seats_held: departure.capacity, seats_sold: 1 }), 'departures_never_oversold');
    await rejects(knex('departures').where({ id: departure.id }).update({ seats_held: -1 }), 'departures_seats_non_negative');
  });

  it('keeps booking money consistent: net + commission = total, refunds within what was paid', async () => {
    const departure = await knex('departures').first();
    const tour = await knex('tours').where({ id: departure.tour_id }).first();
    const customer = await knex('customers').first();
    const base = {
      reference: 'ST-TEST01', departure_id: departure.id, branch_id: tour.branch_id, customer_id: customer.id, pax_count: 1,
      currency: 'EUR', total_minor: 10000, net_minor: 9000, commission_minor: 1000, contact: JSON.stringify({ name: 'A', email: 'a@b.c' }),
    };
    await rejects(knex('bookings').insert({ ...base, net_minor: 9500 }), 'bookings_money');
    await rejects(knex('bookings').insert({ ...base, amount_paid_minor: 100, amount_refunded_minor: 200 }), 'bookings_money');
    await rejects(knex('bookings').insert({ ...base, status: 'lost' }), 'bookings_status');
    await rejects(knex('bookings').insert({ ...base, currency: 'eur' }), 'bookings_currency_iso');
    await rejects(knex('bookings').insert({ ...base, customer_id: null }), 'bookings_buyer');
  });

  it('ties partner and customer users to their partner and customer', async () => {
    const row = { email: 'x@demo.test', name: 'X', password_hash: 'x' };
    await rejects(knex('users').insert({ ...row, role: 'partner' }), 'users_partner_scope');
    await rejects(knex('users').insert({ ...row, role: 'customer' }), 'users_customer_scope');
    await rejects(knex('users').insert({ ...row, role: 'operator' }), 'users_operator_branch');
    await rejects(knex('users').insert({ ...row, role: 'admin', email: 'ADMIN@demo.test' }), 'users_email_unique');
  });

  it('stores phones in E.164 only', async () => {
    await rejects(knex('customers').insert({ first_name: 'A', last_name: 'B', phone: '600 111 222' }), 'customers_phone_e164');
  });

  it('seeds the demo idempotently', async () => {
    const count = async () => (await knex('departures').count<{ count: number }[]>('* as count'))[0].count;
    const before = await count();
    const report = await seedDemo(knex, { bcryptRounds: 4 });
    expect(report).to.deep.equal({ branches: 0, tours: 0, departures: 0, users: 0 });
    expect(await count()).to.equal(before);
    expect(await knex('branches').whereIn('code', ['NYC', 'CUN', 'MAD', 'DXB', 'TLV']).pluck('country')).to.have.members(['US', 'MX', 'ES', 'AE', 'IL']);
    expect(await knex('partners').distinct('kind').pluck('kind')).to.have.members(['tour_operator', 'travel_agency', 'reseller']);
    expect(await knex('users').distinct('role').pluck('role')).to.have.members(['admin', 'operator', 'marketer', 'accountant', 'partner', 'customer']);
  });

  it('migrates down and up again on an empty database', async function () {
    this.timeout(30000);
    const fresh = createKnex(await stack().createDatabase('migrations'), 1);
    try {
      await migrateLatest(fresh);
      const tables = async () => (await fresh.raw(`select count(*)::int as n from information_schema.tables where table_schema = 'public' and table_name not like 'knex%'`)).rows[0].n;
      expect(await tables()).to.be.greaterThan(15);
      await fresh.migrate.rollback(undefined, true);
      expect(await tables()).to.equal(0);
      await migrateLatest(fresh);
      expect(await tables()).to.be.greaterThan(15);
    } finally {
      await fresh.destroy();
    }
  });
});
