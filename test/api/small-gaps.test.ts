import crypto from 'node:crypto';
import { expect } from 'chai';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';
import { hold, scenario } from '../support/bookings';
import { encodeCursor } from '../../api/http/cursor';
import { fixedWindowLimiter } from '../../api/routes/payment-web';
import { releasePromoUse } from '../../models/holds';
import { jsonDepth } from '../../api/http/middleware';

describe('small gaps', () => {
  it('a cursor that decodes but holds the wrong kinds of values is a 400, never a 500', async () => {
    const admin = await loginAs('admin');
    const marketer = await loginAs('marketer');
    const forged = [encodeCursor(['not a date', crypto.randomUUID()]), encodeCursor(['2026-01-01T00:00:00Z', 'not-a-uuid']), encodeCursor([1, 2]), encodeCursor(['99999-01-01 00:00:00', crypto.randomUUID()])];
    for (const cursor of forged) {
      for (const [path, token] of [['/api/v1/bookings', admin], ['/api/v1/contacts', marketer], ['/api/v1/templates', marketer], ['/api/v1/departures', undefined]] as const) {
        const res = await api('GET', `${path}?cursor=${cursor}`, { token });
        expect(res.status, `${path} ${Buffer.from(cursor, 'base64url').toString()}`).to.equal(400);
        expect(res.body.code).to.equal('invalid_cursor');
      }
    }
  });

  it('an automation goal is size-checked like a segment', async () => {
    let deep: Record<string, unknown> = { field: 'country', op: 'eq', value: 'ES' };
    for (let i = 0; i < 12; i++) deep = { not: deep };
    const res = await api('POST', '/api/v1/automations', {
      token: await loginAs('marketer'),
      body: { name: 'deep goal', trigger: 'manual', steps: [{ wait: { hours: 1 } }], goal: deep },
    });
    expect(res.status).to.equal(400);
    expect(res.body.param).to.equal('goal');
    expect(res.body.detail).to.match(/nest more than 8 levels/);
  });

  it('the payment return page is only for bookings sent to a provider, and limited per address', async () => {
    expect((await api('GET', `/pay/return/${crypto.randomUUID()}`)).status).to.equal(404);
    const s = await scenario({ daysAhead: 60 });
    const booking = await hold(await loginAs('operator'), s.departureId, 1); // held, never sent to a payment page
    expect((await api('GET', `/pay/return/${booking.id}`)).status).to.equal(404);
    const allow = fixedWindowLimiter(3, 1000, 2);
    expect([allow('a', 0), allow('a', 1), allow('a', 2), allow('a', 3)]).to.deep.equal([true, true, true, false]);
    expect(allow('a', 1000)).to.equal(true); // a new window
    allow('b', 1000);
    allow('c', 1000); // at most 2 keys: the oldest went
    expect(allow('a', 1001)).to.equal(true);
  });

  it('gives a promo code use back when the hold it was taken for expires', async () => {
    const { knex } = stack();
    const s = await scenario({ daysAhead: 60 });
    const code = `HARD${crypto.randomBytes(3).toString('hex').toUpperCase()}`;
    await knex('promo_codes').insert({ code, percent_off_bp: 1000, max_uses: 1 });
    const booking = await hold(await loginAs('operator'), s.departureId, 1, { promoCode: code });
    expect((await knex('promo_codes').where({ code }).first()).used_count).to.equal(1);
    const row = await knex('bookings').where({ id: booking.id }).first();
    expect(await knex.transaction((trx) => releasePromoUse(trx, row, 'cancelled'))).to.equal(false); // a cancellation keeps it
    expect(await knex.transaction((trx) => releasePromoUse(trx, row, 'expired'))).to.equal(true);
    expect((await knex('promo_codes').where({ code }).first()).used_count).to.equal(0);
    expect(await knex.transaction((trx) => releasePromoUse(trx, { ...row, status: 'expired' }, 'expired'))).to.equal(false);
  });

  it('/health never shows a driver\'s error text', async () => {
    const res = await api('GET', '/health');
    expect(JSON.stringify(res.body)).to.not.match(/ECONNREFUSED|127\.0\.0\.1|at .*\.ts:/);
  });
});

describe('deeply nested JSON', () => {
  it('is a 400 before any validation, not a stack overflow', async () => {
    const depth = 20_000;
    const rules = `${'{"not":'.repeat(depth)}{"field":"country","op":"eq","value":"ES"}${'}'.repeat(depth)}`;
    const res = await api('POST', '/api/v1/segments', { token: await loginAs('marketer'), raw: `{"name":"deep","rules":${rules}}`, headers: { 'content-type': 'application/json' } });
    expect(res.status).to.equal(400);
    expect(res.body.code).to.equal('json_too_deep');
    expect(jsonDepth(Buffer.from('{"a":"[[[{{\\"}","b":[1,[2]]}'))).to.equal(3);
  });
});
