import { expect } from 'chai';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';
import { createUser, login, PASSWORD } from './account-support';

describe('users admin API', () => {
  let admin: string;
  let adminId: string;
  before(async () => {
    admin = await loginAs('admin');
    adminId = (await api('GET', '/api/v1/me', { token: admin })).body.id;
  });

  it('is for admins only', async () => {
    for (const role of ['operator', 'marketer', 'customer'] as const) {
      const res = await api('GET', '/api/v1/users', { token: await loginAs(role) });
      expect(res.status, role).to.equal(403);
    }
    expect((await api('GET', '/api/v1/users')).status).to.equal(401);
  });

  it('lists newest first with cursor pages that neither repeat nor skip, and filters', async () => {
    const made = [await createUser('accountant'), await createUser('accountant'), await createUser('accountant')];
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: { status: number; body: { data: Array<{ id: string; role: string; object: string }>; nextCursor: string | null; hasMore: boolean } } = await api('GET', `/api/v1/users?role=accountant&limit=2${cursor ? `&cursor=${cursor}` : ''}`, { token: admin });
      expect(res.status).to.equal(200);
      expect(res.body.data.length).to.be.at.most(2);
      for (const u of res.body.data) expect(u).to.include({ object: 'user', role: 'accountant' });
      seen.push(...res.body.data.map((u) => u.id));
      cursor = res.body.nextCursor;
    } while (cursor);
    expect(new Set(seen).size).to.equal(seen.length);
    expect(seen).to.include.members(made.map((u) => u.id));
    expect(seen.indexOf(made[2].id)).to.be.below(seen.indexOf(made[0].id));
    const byEmail = await api('GET', `/api/v1/users?email=${encodeURIComponent(made[1].email.slice(0, 18).toUpperCase())}`, { token: admin });
    expect(byEmail.body.data.map((u: { id: string }) => u.id)).to.include(made[1].id);
    expect((await api('GET', '/api/v1/users?cursor=nonsense', { token: admin })).body.code).to.equal('invalid_cursor');
  });

  it('creates an account (password policy, unique email, the scope the role needs) and audits it', async () => {
    const branch = await stack().knex('branches').where({ code: 'MAD' }).first('id');
    const email = `new-operator-${Date.now()}@accounts.test`;
    const weak = await api('POST', '/api/v1/users', { token: admin, body: { email, name: 'Op', role: 'operator', branchId: branch.id, password: 'iloveyou12' } });
    expect(weak.status).to.equal(422);
    expect(weak.body).to.include({ code: 'password_rejected', rule: 'common_password' });
    const noBranch = await api('POST', '/api/v1/users', { token: admin, body: { email, name: 'Op', role: 'operator', password: PASSWORD } });
    expect(noBranch.status).to.equal(422);
    expect(noBranch.body).to.include({ code: 'role_scope_invalid', param: 'branchId' });
    const partnerless = await api('POST', '/api/v1/users', { token: admin, body: { email, name: 'P', role: 'partner', password: PASSWORD } });
    expect(partnerless.body).to.include({ code: 'role_scope_invalid', param: 'partnerId' });
    expect(await stack().knex('users').whereRaw('lower(email) = ?', [email])).to.have.length(0); // nothing half-written

    const created = await api('POST', '/api/v1/users', { token: admin, body: { email, name: 'Olga Operator', role: 'operator', branchId: branch.id, password: PASSWORD } });
    expect(created.status).to.equal(201);
    expect(created.body).to.include({ object: 'user', email, role: 'operator', branchId: branch.id, active: true });
    expect(created.headers.get('location')).to.equal(`/api/v1/users/${created.body.id}`);
    expect(created.body).to.not.have.property('passwordHash');
    const dup = await api('POST', '/api/v1/users', { token: admin, body: { email: email.toUpperCase(), name: 'Again', role: 'marketer', password: PASSWORD } });
    expect(dup.status).to.equal(409);
    expect(dup.body.code).to.equal('email_taken');
    expect((await login(email)).status).to.equal(200);
    const audit = await stack().knex('audit_log').where({ action: 'user.created', entity_id: created.body.id }).first();
    expect(audit.actor_user_id).to.equal(adminId);
    expect(audit.data).to.include({ role: 'operator', email });
  });

  it('changes role and scope (clearing a scope the new role cannot have), refuses changing one\'s own role, audits the change', async () => {
    const user = await createUser('partner');
    const branch = await stack().knex('branches').where({ code: 'MAD' }).first('id');
    const res = await api('PATCH', `/api/v1/users/${user.id}`, { token: admin, body: { role: 'operator', branchId: branch.id } });
    expect(res.status).to.equal(200);
    expect(res.body).to.include({ role: 'operator', branchId: branch.id, partnerId: null });
    const audit = await stack().knex('audit_log').where({ action: 'user.updated', entity_id: user.id }).first();
    expect(audit.data.changed.role).to.deep.equal({ from: 'partner', to: 'operator' });
    expect(audit.data.changed).to.have.property('partnerId');

    const bad = await api('PATCH', `/api/v1/users/${user.id}`, { token: admin, body: { role: 'customer' } });
    expect(bad.status).to.equal(422);
    expect(bad.body.param).to.equal('customerId');
    const self = await api('PATCH', `/api/v1/users/${adminId}`, { token: admin, body: { role: 'marketer' } });
    expect(self.status).to.equal(409);
    expect(self.body.code).to.equal('cannot_change_own_role');
    expect((await api('PATCH', '/api/v1/users/00000000-0000-4000-8000-000000000000', { token: admin, body: { name: 'x' } })).status).to.equal(404);
    expect((await api('PATCH', `/api/v1/users/${user.id}`, { token: admin, body: {} })).status).to.equal(400);
  });

  it('deactivates (login refused, old token 401 on the next request) and reactivates, audited; never oneself', async () => {
    const user = await createUser('marketer');
    const session = await login(user.email);
    expect((await api('GET', '/api/v1/templates', { token: session.body.accessToken })).status).to.equal(200);

    const off = await api('POST', `/api/v1/users/${user.id}/deactivate`, { token: admin, body: { reason: 'left the company' } });
    expect(off.status).to.equal(200);
    expect(off.body.active).to.equal(false);
    const next = await api('GET', '/api/v1/templates', { token: session.body.accessToken });
    expect(next.status).to.equal(401);
    expect(next.body.code).to.equal('account_inactive');
    expect((await login(user.email)).status).to.equal(401);
    expect((await api('POST', '/api/v1/auth/refresh', { body: { refreshToken: session.body.refreshToken } })).status).to.equal(401);

    const on = await api('POST', `/api/v1/users/${user.id}/reactivate`, { token: admin });
    expect(on.body.active).to.equal(true);
    expect((await api('GET', '/api/v1/templates', { token: session.body.accessToken })).body.code).to.equal('session_ended'); // old sessions stay ended
    expect((await login(user.email)).status).to.equal(200);
    const actions = await stack().knex('audit_log').where({ entity_id: user.id }).whereIn('action', ['user.deactivated', 'user.reactivated']).orderBy('id').pluck('action');
    expect(actions).to.deep.equal(['user.deactivated', 'user.reactivated']);

    const self = await api('POST', `/api/v1/users/${adminId}/deactivate`, { token: admin });
    expect(self.status).to.equal(409);
  });
});
