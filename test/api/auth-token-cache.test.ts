/**
 * Verified access tokens are remembered by their exact text (api/auth.ts), so a signed-in client's
 * requests skip the signature check: a remembered token must still expire on time, and nothing
 * but that exact text (a re-signed or altered copy) may ride on it.
 */
import { expect } from 'chai';
import jwt from 'jsonwebtoken';
import { loadSecrets } from '../../platform/secrets';
import { api } from '../support/http';
import { stack } from '../support/stack';

describe('auth: remembered access tokens', () => {
  it('refuses a token once it expires, though it was accepted (and remembered) before', async () => {
    const user = await stack().knex('users').where({ email: 'customer@demo.test' }).first();
    const exp = Math.floor(Date.now() / 1000) + 2;
    const token = jwt.sign({ typ: 'access', role: 'customer', cu: user.customer_id, exp }, loadSecrets().jwtSecret, {
      subject: user.id, issuer: 'spirit-tours', algorithm: 'HS256',
    });
    for (let i = 0; i < 2; i++) expect((await api('GET', '/api/v1/me', { token })).status).to.equal(200);
    await new Promise((r) => setTimeout(r, Math.max(0, exp * 1000 - Date.now()) + 50));
    const late = await api('GET', '/api/v1/me', { token });
    expect(late.status).to.equal(401);
    expect(late.body.code).to.equal('token_expired');
  });

  it('gives nothing to an altered copy of a remembered token', async () => {
    const user = await stack().knex('users').where({ email: 'customer@demo.test' }).first();
    const token = jwt.sign({ typ: 'access', role: 'customer', cu: user.customer_id }, loadSecrets().jwtSecret, {
      subject: user.id, issuer: 'spirit-tours', algorithm: 'HS256', expiresIn: 60,
    });
    expect((await api('GET', '/api/v1/me', { token })).status).to.equal(200);
    const [header, payload, signature] = token.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const elevated = `${header}.${Buffer.from(JSON.stringify({ ...claims, role: 'admin' })).toString('base64url')}.${signature}`;
    const flipped = `${header}.${payload}.${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`;
    const otherKey = jwt.sign({ typ: 'access', role: 'admin' }, 'another-key-of-at-least-32-characters!', {
      subject: user.id, issuer: 'spirit-tours', algorithm: 'HS256', expiresIn: 60,
    });
    for (const bad of [elevated, flipped, otherKey]) {
      const res = await api('GET', '/api/v1/me', { token: bad });
      expect(res.status).to.equal(401);
      expect(res.body.code).to.equal('invalid_token');
    }
    expect((await api('GET', '/api/v1/me', { token })).status).to.equal(200);
  });
});
