import { expect } from 'chai';
import { config } from '../../platform/config';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';
import { address, createUser, login, PASSWORD, request, startInstance } from './account-support';

const MISSING = '00000000-0000-4000-8000-000000000000';

/** Sets some limits for one test and restores them after. */
function withLimits(limits: Partial<typeof config.rateLimits>) {
  const before = { ...config.rateLimits };
  beforeEach(() => Object.assign(config.rateLimits, limits));
  afterEach(() => Object.assign(config.rateLimits, before));
}

describe('rate limits (counts in PostgreSQL, shared by every API instance)', function () {
  this.timeout(120_000);
  // A second instance that trusts X-Forwarded-For, so each test speaks from addresses of its own.
  let proxied: Awaited<ReturnType<typeof startInstance>>;
  before(async () => { proxied = await startInstance({ trustProxy: true }); });
  after(async () => { await proxied.close(); });
  const from = (ip: string) => ({ 'x-forwarded-for': ip });

  describe('login', () => {
    withLimits({ loginDelayAfterFailures: 3, loginDelayStepMs: 40 });

    it('per account: after 10 failures in a minute even the right password is refused with 429 and Retry-After; failures get slower', async () => {
      const user = await createUser('marketer');
      const took: number[] = [];
      for (let i = 0; i < 10; i++) {
        const started = Date.now();
        const res = await login(user.email, 'wrong password', proxied.baseUrl, from(address())); // a new address each time: the account counts
        took.push(Date.now() - started);
        expect(res.status, `failure ${i + 1}`).to.equal(401);
      }
      // The progressive delay: the 10th failure waited (10 - 3) steps before answering.
      expect(took[9]).to.be.at.least(7 * 40);
      const locked = await login(user.email, PASSWORD, proxied.baseUrl, from(address()));
      expect(locked.status).to.equal(429);
      expect(locked.body).to.include({ code: 'rate_limited', limit: 'login_account' });
      const retryAfter = Number(locked.headers.get('retry-after'));
      expect(retryAfter).to.be.within(1, 60);
      expect(locked.body.retryAfterSeconds).to.equal(retryAfter);
      // Shared: the stack's own instance refuses it too.
      expect((await login(user.email)).status).to.equal(429);
    });

    it('per account, under concurrency: of 30 simultaneous guesses exactly 10 are tried, 20 refused', async () => {
      const user = await createUser('marketer');
      const replies = await Promise.all(Array.from({ length: 30 }, () => login(user.email, 'wrong password', proxied.baseUrl, from(address()))));
      expect(replies.filter((r) => r.status === 401)).to.have.length(10);
      expect(replies.filter((r) => r.status === 429)).to.have.length(20);
    });

    it('per address: after 20 failures in a minute from one address, any login from it is refused', async () => {
      const ip = address();
      for (let i = 0; i < 20; i++) {
        const res = await login(`nobody-${i}@accounts.test`, 'wrong password', proxied.baseUrl, from(ip));
        expect(res.status, `failure ${i + 1}`).to.equal(401);
      }
      const user = await createUser('marketer');
      const refused = await login(user.email, PASSWORD, proxied.baseUrl, from(ip));
      expect(refused.status).to.equal(429);
      expect(refused.body.limit).to.equal('login_address');
      expect((await login(user.email, PASSWORD, proxied.baseUrl, from(address()))).status).to.equal(200);
    });

    it('a successful login clears the account\'s failures', async () => {
      const user = await createUser('marketer');
      const ip = address();
      for (let i = 0; i < 2; i++) expect((await login(user.email, 'wrong', proxied.baseUrl, from(ip))).status).to.equal(401);
      expect(await stack().knex('rate_limits').where({ key: `login_account:${user.email}` }).first('points')).to.deep.equal({ points: 2 });
      expect((await login(user.email, PASSWORD, proxied.baseUrl, from(ip))).status).to.equal(200);
      expect(await stack().knex('rate_limits').where({ key: `login_account:${user.email}` }).first()).to.equal(undefined);
    });
  });

  describe('refresh', () => {
    withLimits({ refreshPerAddressPerMinute: 2 });
    it('refreshes per address', async () => {
      const ip = address();
      const user = await createUser('marketer');
      let refreshToken = (await login(user.email, PASSWORD, proxied.baseUrl, from(ip))).body.refreshToken;
      for (let i = 0; i < 2; i++) {
        const res = await request(proxied.baseUrl, 'POST', '/api/v1/auth/refresh', { body: { refreshToken }, headers: from(ip) });
        expect(res.status).to.equal(200);
        expect(res.headers.get('ratelimit-policy')).to.equal('2;w=60');
        refreshToken = res.body.refreshToken;
      }
      const third = await request(proxied.baseUrl, 'POST', '/api/v1/auth/refresh', { body: { refreshToken }, headers: from(ip) });
      expect(third.status).to.equal(429);
      expect(third.headers.get('retry-after')).to.match(/^\d+$/);
      expect((await request(proxied.baseUrl, 'POST', '/api/v1/auth/refresh', { body: { refreshToken }, headers: from(address()) })).status).to.equal(200);
    });
  });

  describe('holds and promo code tries', () => {
    withLimits({ holdsPerUserPerMinute: 3, promoTriesPerUserPerHour: 2 });
    const body = (extra: Record<string, unknown> = {}) => ({
      departureId: MISSING, passengers: [{ type: 'adult', firstName: 'Ana', lastName: 'García' }], contact: { name: 'Ana García', email: 'ana@example.com' }, ...extra,
    });

    it('counts holds per user across instances, before the hold is tried', async () => {
      const user = await createUser('customer');
      const token = (await login(user.email)).body.accessToken;
      expect((await api('POST', '/api/v1/bookings', { token, body: body() })).status).to.equal(404);
      expect((await request(proxied.baseUrl, 'POST', '/api/v1/bookings', { token, body: body() })).status).to.equal(404);
      expect((await api('POST', '/api/v1/bookings', { token, body: body() })).status).to.equal(404);
      const fourth = await request(proxied.baseUrl, 'POST', '/api/v1/bookings', { token, body: body() });
      expect(fourth.status).to.equal(429);
      expect(fourth.body).to.include({ code: 'rate_limited', limit: 'holds' });
      const other = (await login((await createUser('customer')).email)).body.accessToken;
      expect((await api('POST', '/api/v1/bookings', { token: other, body: body() })).status).to.equal(404);
    });

    it('counts promo code tries on their own', async () => {
      config.rateLimits.holdsPerUserPerMinute = 0;
      const user = await createUser('customer');
      const token = (await login(user.email)).body.accessToken;
      for (const code of ['GUESS1', 'GUESS2']) expect((await api('POST', '/api/v1/bookings', { token, body: body({ promoCode: code }) })).status).to.equal(404);
      const third = await api('POST', '/api/v1/bookings', { token, body: body({ promoCode: 'GUESS3' }) });
      expect(third.status).to.equal(429);
      expect(third.body.limit).to.equal('promo_tries');
      expect((await api('POST', '/api/v1/bookings', { token, body: body() })).status).to.equal(404); // without a code: not counted
    });
  });

  describe('template test sends', () => {
    withLimits({ testSendsPerUserPerHour: 1 });
    it('counts test sends per user', async () => {
      const user = await createUser('marketer');
      const token = (await login(user.email)).body.accessToken;
      const send = () => api('POST', `/api/v1/templates/${MISSING}/test-send`, { token, body: { to: 'me@example.com' } });
      expect((await send()).status).to.equal(404);
      const second = await send();
      expect(second.status).to.equal(429);
      expect(second.body.limit).to.equal('test_sends');
      expect((await api('POST', `/api/v1/templates/${MISSING}/test-send`, { token: await loginAs('marketer'), body: { to: 'me@example.com' } })).status).to.equal(404);
    });
  });

  describe('password reset requests', () => {
    withLimits({ passwordResetsPerAddressPerHour: 2 });
    it('are limited per address, answering 429 the same for any email', async () => {
      const ip = address();
      for (let i = 0; i < 2; i++) {
        expect((await request(proxied.baseUrl, 'POST', '/api/v1/auth/password-reset', { body: { email: `x${i}@accounts.test` }, headers: from(ip) })).status).to.equal(202);
      }
      const third = await request(proxied.baseUrl, 'POST', '/api/v1/auth/password-reset', { body: { email: 'x9@accounts.test' }, headers: from(ip) });
      expect(third.status).to.equal(429);
    });
  });
});
