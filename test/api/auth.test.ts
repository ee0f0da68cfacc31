import { expect } from 'chai';
import jwt from 'jsonwebtoken';
import { loadSecrets } from '../../platform/secrets';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';

describe('auth', () => {
  it('logs in a demo user and returns tokens and the user', async () => {
    const res = await api('POST', '/api/v1/auth/login', { body: { email: 'Operator@Demo.test', password: 'spirit-demo' } });
    expect(res.status).to.equal(200);
    expect(res.body.user).to.include({ email: 'operator@demo.test', role: 'operator' });
    expect(res.body.accessToken).to.be.a('string');
    const me = await api('GET', '/api/v1/me', { token: res.body.accessToken });
    expect(me.status).to.equal(200);
    expect(me.body.id).to.equal(res.body.user.id);
  });

  it('refuses a wrong password and an unknown email the same way, and audits it', async () => {
    const wrong = await api('POST', '/api/v1/auth/login', { body: { email: 'admin@demo.test', password: 'nope' } });
    const unknown = await api('POST', '/api/v1/auth/login', { body: { email: 'nobody@demo.test', password: 'nope' } });
    for (const res of [wrong, unknown]) {
      expect(res.status).to.equal(401);
      expect(res.headers.get('content-type')).to.contain('application/problem+json');
      expect(res.body.code).to.equal('invalid_credentials');
    }
    const audited = await stack().knex('audit_log').where({ action: 'auth.login_failed' }).whereRaw(`data->>'email' = 'nobody@demo.test'`);
    expect(audited).to.have.length(1);
  });

  it('explains every invalid field of a login body', async () => {
    const res = await api('POST', '/api/v1/auth/login', { body: { email: 'not-an-email' } });
    expect(res.status).to.equal(400);
    expect(res.body.code).to.equal('validation_failed');
    expect(res.body.errors.map((e: { param: string }) => e.param).sort()).to.deep.equal(['email', 'password']);
    expect(res.body.detail).to.match(/email/);
    expect(res.body).to.not.have.property('stack');
  });

  it('refuses a request without a token on a protected route', async () => {
    const res = await api('GET', '/api/v1/me');
    expect(res.status).to.equal(401);
    expect(res.body.code).to.equal('authentication_required');
    expect(res.headers.get('www-authenticate')).to.equal('Bearer');
  });

  it('refuses an expired token', async () => {
    const user = await stack().knex('users').where({ email: 'admin@demo.test' }).first();
    const expired = jwt.sign({ typ: 'access', role: 'admin' }, loadSecrets().jwtSecret, {
      subject: user.id, issuer: 'spirit-tours', expiresIn: -10, algorithm: 'HS256',
    });
    const res = await api('GET', '/api/v1/me', { token: expired });
    expect(res.status).to.equal(401);
    expect(res.body.code).to.equal('token_expired');
  });

  it('refuses a tampered token (role changed in the payload)', async () => {
    const token = await loginAs('customer');
    const [header, payload, signature] = token.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    claims.role = 'admin';
    const forged = [header, Buffer.from(JSON.stringify(claims)).toString('base64url'), signature].join('.');
    const res = await api('GET', '/api/v1/me', { token: forged });
    expect(res.status).to.equal(401);
    expect(res.body.code).to.equal('invalid_token');
  });

  it('refuses a token signed with another key, and an alg=none token', async () => {
    const user = await stack().knex('users').where({ email: 'admin@demo.test' }).first();
    const otherKey = jwt.sign({ typ: 'access', role: 'admin' }, 'x'.repeat(48), { subject: user.id, issuer: 'spirit-tours' });
    const none = jwt.sign({ typ: 'access', role: 'admin' }, '', { subject: user.id, issuer: 'spirit-tours', algorithm: 'none' });
    for (const token of [otherKey, none]) {
      const res = await api('GET', '/api/v1/me', { token });
      expect(res.status).to.equal(401);
      expect(res.body.code).to.equal('invalid_token');
    }
  });

  it('refuses a refresh token used as an access token', async () => {
    const login = await api('POST', '/api/v1/auth/login', { body: { email: 'admin@demo.test', password: 'spirit-demo' } });
    const res = await api('GET', '/api/v1/me', { token: login.body.refreshToken });
    expect(res.status).to.equal(401);
  });

  it('forbids a role that may not use a route', async () => {
    const tour = await stack().knex('tours').where({ code: 'MAD-PRADO' }).first();
    for (const role of ['customer', 'partner', 'marketer'] as const) {
      const res = await api('POST', `/api/v1/tours/${tour.id}/departures`, {
        token: await loginAs(role), body: { startsAt: '2030-01-01T10:00:00Z', capacity: 10 },
      });
      expect(res.status, role).to.equal(403);
      expect(res.body.code).to.equal('forbidden');
    }
  });

  it('rotates refresh tokens, and a reused one ends the whole session family', async () => {
    const login = await api('POST', '/api/v1/auth/login', { body: { email: 'marketer@demo.test', password: 'spirit-demo' } });
    const first = login.body.refreshToken;
    const rotated = await api('POST', '/api/v1/auth/refresh', { body: { refreshToken: first } });
    expect(rotated.status).to.equal(200);
    expect(rotated.body.refreshToken).to.not.equal(first);
    expect(rotated.body.user.email).to.equal('marketer@demo.test');

    const replay = await api('POST', '/api/v1/auth/refresh', { body: { refreshToken: first } });
    expect(replay.status).to.equal(401);
    expect(replay.body.code).to.equal('refresh_token_reused');
    // The token issued by the rotation belonged to the leaked family: it is revoked too.
    const after = await api('POST', '/api/v1/auth/refresh', { body: { refreshToken: rotated.body.refreshToken } });
    expect(after.status).to.equal(401);
    expect(after.body.code).to.equal('invalid_token');
  });

  it('refuses a forged refresh token', async () => {
    const res = await api('POST', '/api/v1/auth/refresh', { body: { refreshToken: 'eyJhbGciOiJIUzI1NiJ9.e30.AAAA' } });
    expect(res.status).to.equal(401);
  });
});
