import { expect } from 'chai';
import { config } from '../../platform/config';
import { stack } from '../support/stack';
import { createUser, PASSWORD, startInstance } from './account-support';

interface Jar { refresh?: string; csrf?: string }

/** A request as a browser on the console's origin makes it: cookies from the jar, Set-Cookie back into it. */
async function browser(jar: Jar, method: string, path: string, options: { body?: unknown; csrf?: string | null } = {}) {
  const headers: Record<string, string> = {};
  const cookies = [jar.refresh && path.startsWith('/api/v1/auth/session') ? `st_refresh=${jar.refresh}` : '', jar.csrf ? `st_csrf=${jar.csrf}` : ''].filter(Boolean);
  if (cookies.length) headers.cookie = cookies.join('; ');
  const csrf = options.csrf === undefined ? jar.csrf : options.csrf;
  if (csrf) headers['x-csrf-token'] = csrf;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${stack().baseUrl}${path}`, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  const setCookies = res.headers.getSetCookie();
  for (const c of setCookies) {
    const [pair] = c.split(';');
    const [name, value] = [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)];
    if (name === 'st_refresh') jar.refresh = value || undefined;
    if (name === 'st_csrf') jar.csrf = value || undefined;
  }
  const text = await res.text();
  return { status: res.status, headers: res.headers, setCookies, body: text && (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text };
}

const attributes = (setCookie: string) => setCookie.split(';').slice(1).map((a) => a.trim());

describe('browser session (refresh token in an httpOnly cookie, CSRF double submit)', () => {
  it('logs in with cookies: st_refresh httpOnly, SameSite=Strict, on the session path, living as long as the refresh token; st_csrf readable; no refresh token in the body', async () => {
    const user = await createUser('operator');
    const jar: Jar = {};
    const res = await browser(jar, 'POST', '/api/v1/auth/session', { body: { email: user.email, password: PASSWORD } });
    expect(res.status).to.equal(200);
    expect(res.body).to.have.keys('accessToken', 'tokenType', 'expiresIn', 'user', 'csrfToken');
    expect(res.body.user.email).to.equal(user.email);
    expect(res.headers.get('cache-control')).to.equal('no-store');

    const refresh = res.setCookies.find((c) => c.startsWith('st_refresh='))!;
    expect(attributes(refresh)).to.include.members(['Path=/api/v1/auth/session', 'HttpOnly', 'SameSite=Strict', `Max-Age=${config.jwt.refreshTtlSeconds}`]);
    expect(attributes(refresh)).not.to.include('Secure'); // plain http outside production
    const csrf = res.setCookies.find((c) => c.startsWith('st_csrf='))!;
    expect(attributes(csrf)).to.include.members(['Path=/', 'SameSite=Strict']);
    expect(attributes(csrf)).not.to.include('HttpOnly');
    expect(jar.csrf).to.equal(res.body.csrfToken);
    expect(jar.refresh).to.be.a('string').and.not.equal('');

    const me = await fetch(`${stack().baseUrl}/api/v1/me`, { headers: { authorization: `Bearer ${res.body.accessToken}` } });
    expect(me.status).to.equal(200);
  });

  it('Secure cookies when the request came over https (through a trusted proxy)', async () => {
    const other = await startInstance({ trustProxy: true });
    try {
      const user = await createUser('marketer');
      const res = await fetch(`${other.baseUrl}/api/v1/auth/session`, {
        method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-proto': 'https' }, body: JSON.stringify({ email: user.email, password: PASSWORD }),
      });
      expect(res.status).to.equal(200);
      for (const c of res.headers.getSetCookie()) expect(attributes(c)).to.include('Secure');
    } finally {
      await other.close();
    }
  });

  it('wrong password: 401 as for the token login, no cookies', async () => {
    const user = await createUser('operator');
    const res = await browser({}, 'POST', '/api/v1/auth/session', { body: { email: user.email, password: 'not the password at all' } });
    expect(res.status).to.equal(401);
    expect(res.body.code).to.equal('invalid_credentials');
    expect(res.setCookies).to.deep.equal([]);
    const failed = await stack().knex('audit_log').where({ action: 'auth.login_failed' }).whereRaw("data->>'email' = ?", [user.email.toLowerCase()]);
    expect(failed).to.have.length(1);
  });

  it('refresh with the cookie and the CSRF header: a new access token, and the cookie rotates', async () => {
    const user = await createUser('operator');
    const jar: Jar = {};
    await browser(jar, 'POST', '/api/v1/auth/session', { body: { email: user.email, password: PASSWORD } });
    const first = jar.refresh;
    const res = await browser(jar, 'POST', '/api/v1/auth/session/refresh');
    expect(res.status).to.equal(200);
    expect(res.body).to.have.keys('accessToken', 'tokenType', 'expiresIn', 'user', 'csrfToken');
    expect(res.body.user.id).to.equal(user.id);
    expect(jar.refresh).to.be.a('string').and.not.equal(first);
    expect(res.body.csrfToken).to.equal(jar.csrf);
    const me = await fetch(`${stack().baseUrl}/api/v1/me`, { headers: { authorization: `Bearer ${res.body.accessToken}` } });
    expect(me.status).to.equal(200);
    // and again with the rotated one
    expect((await browser(jar, 'POST', '/api/v1/auth/session/refresh')).status).to.equal(200);
  });

  it('refresh without the CSRF header, or with another value, is 403 csrf_failed and spends nothing', async () => {
    const user = await createUser('operator');
    const jar: Jar = {};
    await browser(jar, 'POST', '/api/v1/auth/session', { body: { email: user.email, password: PASSWORD } });
    const before = jar.refresh;
    for (const csrf of [null, 'x'.repeat(32), `${jar.csrf}x`]) {
      const res = await browser(jar, 'POST', '/api/v1/auth/session/refresh', { csrf });
      expect(res.status, String(csrf)).to.equal(403);
      expect(res.body.code).to.equal('csrf_failed');
    }
    // A header without the cookie (another site cannot read nor set it) fails too.
    const noCookie = await browser({ refresh: jar.refresh }, 'POST', '/api/v1/auth/session/refresh', { csrf: jar.csrf });
    expect(noCookie.status).to.equal(403);
    expect(jar.refresh).to.equal(before);
    expect((await browser(jar, 'POST', '/api/v1/auth/session/refresh')).status).to.equal(200); // the cookie was not spent
  });

  it('refresh without a session cookie is 401', async () => {
    const res = await browser({ csrf: 'abc' }, 'POST', '/api/v1/auth/session/refresh');
    expect(res.status).to.equal(401);
    expect(res.body.code).to.equal('session_cookie_missing');
  });

  it('a reused refresh cookie is 401 and ends the whole family (the rotated cookie no longer works either); the cookies are cleared', async () => {
    const user = await createUser('operator');
    const jar: Jar = {};
    await browser(jar, 'POST', '/api/v1/auth/session', { body: { email: user.email, password: PASSWORD } });
    const stolen = jar.refresh!;
    expect((await browser(jar, 'POST', '/api/v1/auth/session/refresh')).status).to.equal(200);
    const rotated = jar.refresh!;

    const thief: Jar = { refresh: stolen, csrf: jar.csrf };
    const reuse = await browser(thief, 'POST', '/api/v1/auth/session/refresh');
    expect(reuse.status).to.equal(401);
    expect(reuse.body.code).to.equal('refresh_token_reused');
    expect(reuse.setCookies.some((c) => c.startsWith('st_refresh=;') && c.includes('Max-Age=0'))).to.equal(true);

    const legit = await browser({ refresh: rotated, csrf: jar.csrf }, 'POST', '/api/v1/auth/session/refresh');
    expect(legit.status).to.equal(401);
    const live = await stack().knex('refresh_tokens').where({ user_id: user.id }).whereNull('revoked_at');
    expect(live).to.deep.equal([]);
  });

  it('logout (DELETE, CSRF-checked) revokes the family and clears both cookies: the cookie refreshes no more', async () => {
    const user = await createUser('operator');
    const jar: Jar = {};
    await browser(jar, 'POST', '/api/v1/auth/session', { body: { email: user.email, password: PASSWORD } });
    const cookie = jar.refresh!;
    const csrf = jar.csrf!;

    const forged = await browser(jar, 'DELETE', '/api/v1/auth/session', { csrf: null });
    expect(forged.status).to.equal(403);
    expect(jar.refresh).to.equal(cookie);

    const out = await browser(jar, 'DELETE', '/api/v1/auth/session');
    expect(out.status).to.equal(204);
    const refreshCleared = out.setCookies.find((c) => c.startsWith('st_refresh='))!;
    const csrfCleared = out.setCookies.find((c) => c.startsWith('st_csrf='))!;
    expect(refreshCleared).to.match(/^st_refresh=;/);
    expect(attributes(refreshCleared)).to.include.members(['Max-Age=0', 'Path=/api/v1/auth/session']);
    expect(csrfCleared).to.match(/^st_csrf=;/);
    expect(attributes(csrfCleared)).to.include.members(['Max-Age=0', 'Path=/']);
    expect(jar.refresh).to.equal(undefined);

    const again = await browser({ refresh: cookie, csrf }, 'POST', '/api/v1/auth/session/refresh');
    expect(again.status).to.equal(401);
    const audited = await stack().knex('audit_log').where({ action: 'auth.logout', entity_id: user.id });
    expect(audited).to.have.length(1);
    // Logging out with no session is fine too.
    expect((await browser({}, 'DELETE', '/api/v1/auth/session')).status).to.equal(204);
  });

  it('is described in the OpenAPI document with its response schemas', async () => {
    const doc = await (await fetch(`${stack().baseUrl}/api/v1/openapi.json`)).json() as any; // eslint-disable-line @typescript-eslint/no-explicit-any
    const login = doc.paths['/api/v1/auth/session'].post.responses['200'].content['application/json'].schema;
    expect(login.required).to.include.members(['accessToken', 'csrfToken', 'user']);
    expect(login.properties).not.to.have.property('refreshToken');
    expect(doc.paths['/api/v1/auth/session/refresh'].post.responses['403']).to.be.an('object');
    expect(doc.paths['/api/v1/auth/session'].delete.responses['204']).to.be.an('object');
  });
});
