import { expect } from 'chai';
import { createSessionDirectory } from '../../api/auth';
import { renderTemplate, findTransactionalTemplate } from '../../models/templates';
import { config } from '../../platform/config';
import { eventually } from '../support/bookings';
import { api } from '../support/http';
import { stack } from '../support/stack';
import { createUser, login, PASSWORD, request, startInstance } from './account-support';

describe('sessions that can end', () => {
  it('logout revokes the refresh token\'s family: neither it nor its rotations refresh again', async () => {
    const user = await createUser('marketer');
    const first = await login(user.email);
    const rotated = await api('POST', '/api/v1/auth/refresh', { body: { refreshToken: first.body.refreshToken } });
    expect(rotated.status).to.equal(200);
    const other = await login(user.email); // another device: a family of its own

    const out = await api('POST', '/api/v1/auth/logout', { body: { refreshToken: rotated.body.refreshToken } });
    expect(out.status).to.equal(204);
    const again = await api('POST', '/api/v1/auth/refresh', { body: { refreshToken: rotated.body.refreshToken } });
    expect(again.status).to.equal(401);
    expect(again.body.code).to.equal('invalid_token');
    expect((await api('POST', '/api/v1/auth/refresh', { body: { refreshToken: other.body.refreshToken } })).status).to.equal(200);
    const audited = await stack().knex('audit_log').where({ action: 'auth.logout', entity_id: user.id });
    expect(audited).to.have.length(1);
  });

  it('logout-all ends every session: old access tokens answer 401 session_ended, refresh tokens are revoked', async () => {
    const user = await createUser('marketer');
    const a = await login(user.email);
    const b = await login(user.email);
    expect((await api('GET', '/api/v1/me', { token: b.body.accessToken })).status).to.equal(200);

    expect((await api('POST', '/api/v1/auth/logout-all', { token: a.body.accessToken })).status).to.equal(204);
    for (const token of [a.body.accessToken, b.body.accessToken]) {
      const res = await api('GET', '/api/v1/me', { token });
      expect(res.status).to.equal(401);
      expect(res.body.code).to.equal('session_ended');
    }
    expect((await api('POST', '/api/v1/auth/refresh', { body: { refreshToken: b.body.refreshToken } })).status).to.equal(401);
    const fresh = await login(user.email);
    expect((await api('GET', '/api/v1/me', { token: fresh.body.accessToken })).status).to.equal(200);
  });

  it('a deactivation written by another instance reaches this one through NOTIFY: the next request with the old token is 401', async () => {
    const user = await createUser('marketer');
    const { body } = await login(user.email);
    const before = config.sessionCacheTtlMs;
    // The stack's app cached this user on the first request; its TTL is far away, so only the notification can drop it.
    expect((await api('GET', '/api/v1/me', { token: body.accessToken })).status).to.equal(200);
    expect(before).to.be.greaterThan(10_000);
    await stack().knex('users').where({ id: user.id }).update({ active: false }); // as a SQL console or another replica would
    const res = await eventually(async () => {
      const r = await api('GET', '/api/v1/templates', { token: body.accessToken });
      return r.status === 401 ? r : undefined;
    }, 5000, 20);
    expect(res.body.code).to.equal('account_inactive');
  });

  it('demoted by an admin on one instance, refused with 403 on another on the next request (old token, old role\'s route)', async () => {
    const other = await startInstance();
    try {
      const target = await createUser('admin');
      const { body } = await login(target.email);
      // Warm the other instance's cache with the admin role.
      expect((await request(other.baseUrl, 'GET', '/api/v1/users?limit=1', { token: body.accessToken })).status).to.equal(200);

      const admin = (await login('admin@demo.test', 'spirit-demo')).body.accessToken;
      const demoted = await api('PATCH', `/api/v1/users/${target.id}`, { token: admin, body: { role: 'marketer' } });
      expect(demoted.status).to.equal(200);
      expect(demoted.body.role).to.equal('marketer');

      const refused = await eventually(async () => {
        const r = await request(other.baseUrl, 'GET', '/api/v1/users?limit=1', { token: body.accessToken });
        return r.status === 403 ? r : undefined;
      }, 5000, 20);
      expect(refused.body.detail).to.contain('"marketer"');
      // The same token still works for what a marketer may do.
      expect((await request(other.baseUrl, 'GET', '/api/v1/templates', { token: body.accessToken })).status).to.equal(200);
    } finally {
      await other.close();
    }
  });

  it('the session cache drops a user on NOTIFY even with an hour of TTL, and stops listening on close', async () => {
    const user = await createUser('marketer');
    const directory = createSessionDirectory({ knex: stack().knex, ttlMs: 3_600_000 });
    try {
      await eventually(async () => directory.listening, 5000, 20);
      expect(directory.cached(user.id)).to.equal(undefined);
      const state = await directory.load(user.id);
      expect(state).to.include({ active: true, role: 'marketer', epoch: 0 });
      expect(directory.cached(user.id)).to.deep.equal(state);
      await stack().knex('users').where({ id: user.id }).increment('session_epoch', 1);
      await eventually(async () => directory.cached(user.id) === undefined, 5000, 10);
      expect((await directory.load(user.id))!.epoch).to.equal(1);
    } finally {
      await directory.close();
    }
    expect(directory.listening).to.equal(false);
  });

  it('password change: the current password is checked, the policy names the rule broken, other sessions end', async () => {
    const user = await createUser('marketer');
    const a = await login(user.email);
    const b = await login(user.email);
    const token = a.body.accessToken;

    const wrong = await api('POST', '/api/v1/auth/password', { token, body: { currentPassword: 'not it at all', newPassword: 'a much better passphrase' } });
    expect(wrong.status).to.equal(403);
    expect(wrong.body.code).to.equal('invalid_credentials');
    for (const [newPassword, rule] of [['short', 'min_length'], ['QwertyUiop', 'common_password'], ['1234567890', 'common_password'], [`${user.email}!!`, 'contains_email']] as const) {
      const res = await api('POST', '/api/v1/auth/password', { token, body: { currentPassword: PASSWORD, newPassword } });
      expect(res.status, newPassword).to.equal(422);
      expect(res.body).to.include({ code: 'password_rejected', rule, param: 'newPassword' });
    }
    const changed = await api('POST', '/api/v1/auth/password', { token, body: { currentPassword: PASSWORD, newPassword: 'a much better passphrase' } });
    expect(changed.status).to.equal(200);
    expect((await api('GET', '/api/v1/me', { token: changed.body.accessToken })).status).to.equal(200);
    for (const old of [a.body.accessToken, b.body.accessToken]) expect((await api('GET', '/api/v1/me', { token: old })).body.code).to.equal('session_ended');
    expect((await api('POST', '/api/v1/auth/refresh', { body: { refreshToken: b.body.refreshToken } })).status).to.equal(401);
    expect((await login(user.email)).status).to.equal(401);
    expect((await login(user.email, 'a much better passphrase')).status).to.equal(200);
  });

  describe('password reset by email', () => {
    const resetRows = (email: string) => stack().knex('outbox_messages').where({ template: 'password_reset', recipient: email }).orderBy('id');
    const tokenOf = (row: { data: { reset_url: string } }) => new URL(row.data.reset_url).searchParams.get('token')!;

    it('answers the same for an unknown address and queues a single-use link for a real one', async () => {
      const user = await createUser('customer');
      const known = await api('POST', '/api/v1/auth/password-reset', { body: { email: user.email.toUpperCase() } });
      const unknown = await api('POST', '/api/v1/auth/password-reset', { body: { email: 'nobody-here@accounts.test' } });
      expect(known.status).to.equal(202);
      expect(unknown.status).to.equal(202);
      expect(known.body).to.deep.equal(unknown.body);
      expect(await resetRows('nobody-here@accounts.test')).to.have.length(0);

      const [row] = await resetRows(user.email);
      expect(row).to.include({ channel: 'email', language: 'es' }); // the customer's language
      // The message dispatcher may already have taken it (it delivers account messages from their data); never failed.
      expect(['queued', 'sending', 'sent']).to.include(row.status);
      const token = tokenOf(row);
      expect(token).to.have.length.greaterThan(40);
      const stored = await stack().knex('password_reset_tokens').where({ user_id: user.id });
      expect(stored).to.have.length(1);
      expect(stored[0].token_hash).to.not.contain(token); // only a hash is kept
      // The template the outbox row names exists and fills completely from the row's data.
      const template = await findTransactionalTemplate(stack().knex, 'password_reset', 'es');
      const rendered = await renderTemplate(template!, row.data);
      expect(rendered.missingVariables).to.deep.equal([]);
      expect(rendered.html).to.contain(row.data.reset_url.replace(/&/g, '&amp;'));
      expect(rendered.subject).to.contain('contraseña');

      const session = await login(user.email);
      const weak = await api('POST', '/api/v1/auth/password-reset/confirm', { body: { token, password: 'password123' } });
      expect(weak.status).to.equal(422);
      expect(weak.body).to.include({ code: 'password_rejected', rule: 'common_password' });
      const done = await api('POST', '/api/v1/auth/password-reset/confirm', { body: { token, password: 'reset to something long' } });
      expect(done.status).to.equal(200); // the refused attempt did not spend the link
      const twice = await api('POST', '/api/v1/auth/password-reset/confirm', { body: { token, password: 'and again something else' } });
      expect(twice.status).to.equal(400);
      expect(twice.body.code).to.equal('reset_token_invalid');
      expect((await api('GET', '/api/v1/me', { token: session.body.accessToken })).body.code).to.equal('session_ended');
      expect((await login(user.email, 'reset to something long')).status).to.equal(200);
    });

    it('refuses an expired link', async () => {
      const user = await createUser('marketer');
      await api('POST', '/api/v1/auth/password-reset', { body: { email: user.email } });
      const [row] = await resetRows(user.email);
      await stack().knex('password_reset_tokens').where({ user_id: user.id }).update({ expires_at: new Date(Date.now() - 1000) });
      const res = await api('POST', '/api/v1/auth/password-reset/confirm', { body: { token: tokenOf(row), password: 'reset to something long' } });
      expect(res.status).to.equal(400);
      expect(res.body.code).to.equal('reset_token_invalid');
      expect((await login(user.email)).status).to.equal(200);
    });
  });
});
