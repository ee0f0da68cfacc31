/** Idempotency-Key is scoped to the caller: one user's key never answers for another. */
import { expect } from 'chai';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';
import { holdBody, scenario, seats } from '../support/bookings';

describe('Idempotency-Key across users', function () {
  this.timeout(60_000);

  it('the same key and body from two users runs twice, one booking each; each user\'s retry replays their own answer', async () => {
    const { knex } = stack();
    const s = await scenario({ daysAhead: 20 });
    const customer = await loginAs('customer');
    const partner = await loginAs('partner');
    const key = `shared-key-${Date.now()}`;
    const body = holdBody(s.departureId, 1);
    const headers = { 'idempotency-key': key };
    const mine = await api('POST', '/api/v1/bookings', { token: customer, body, headers });
    const theirs = await api('POST', '/api/v1/bookings', { token: partner, body, headers });
    expect(mine.status, JSON.stringify(mine.body)).to.equal(201);
    expect(theirs.status, JSON.stringify(theirs.body)).to.equal(201);
    expect(theirs.body.id).to.not.equal(mine.body.id);
    expect(theirs.headers.get('idempotent-replayed')).to.equal(null);
    // The partner's answer is the partner's (its commission), not a copy of the customer's.
    expect(theirs.body.partnerId).to.be.a('string');
    expect(mine.body.partnerId ?? null).to.equal(null);

    const mineAgain = await api('POST', '/api/v1/bookings', { token: customer, body, headers });
    const theirsAgain = await api('POST', '/api/v1/bookings', { token: partner, body, headers });
    expect([mineAgain.body.id, mineAgain.headers.get('idempotent-replayed')]).to.deep.equal([mine.body.id, 'true']);
    expect([theirsAgain.body.id, theirsAgain.headers.get('idempotent-replayed')]).to.deep.equal([theirs.body.id, 'true']);
    expect(await knex('bookings').where({ departure_id: s.departureId })).to.have.length(2);
    expect(await seats(s.departureId)).to.deep.equal({ held: 2, sold: 0 });
    expect(await knex('idempotency_keys').where({ key })).to.have.length(2);

    // Another body under the key is refused for its owner only.
    const other = await api('POST', '/api/v1/bookings', { token: customer, body: holdBody(s.departureId, 2), headers });
    expect(other.status).to.equal(422);
    expect(other.body.code).to.equal('idempotency_key_reused');
  });
});
