import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import jwt from 'jsonwebtoken';
import { expect } from 'chai';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';
import { DEMO_PASSWORD } from '../../scripts/demo-seed';
import { productionProblems, projectRoot } from '../../platform/config';
import { emailLinkSecret, jwtKeys, keyId } from '../../platform/secrets';
import { readUnsubscribeToken, signUnsubscribeToken } from '../../integrations/email/links';
import { corsAllowlist, problemRenderer } from '../../api/http/middleware';

const SECRET_A = 'a'.repeat(40);
const SECRET_B = 'b'.repeat(40);

/** Sets env vars for the duration of `fn` (the API under test runs in this process). */
async function withEnv(vars: Record<string, string | undefined>, fn: () => Promise<void>): Promise<void> {
  const before = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (v: Record<string, string | undefined>) => {
    for (const [k, value] of Object.entries(v)) if (value === undefined) delete process.env[k]; else process.env[k] = value;
  };
  apply(vars);
  try {
    await fn();
  } finally {
    apply(before);
  }
}

function startIn(file: string, env: Record<string, string>) {
  const result = spawnSync(process.execPath, ['--require', 'tsx/cjs', file], {
    cwd: projectRoot, encoding: 'utf8', timeout: 60_000,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', NODE_ENV: 'production', DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', TEMPORAL_ADDRESS: '127.0.0.1:1', ...env },
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('production safety', function () {
  this.timeout(120_000);

  it('production refuses to start the API and a worker, naming every missing setting', () => {
    const api = startIn('api/main.ts', { PUBLIC_URL: 'http://book.example.com', EMAIL_PROVIDER: 'outbox' });
    expect(api.status).to.equal(1);
    for (const name of ['PUBLIC_URL must be an https', 'EMAIL_PROVIDER must be a real provider', 'METRICS_TOKEN is required', 'JWT_SECRET is required', 'EMAIL_LINK_SECRET is required']) {
      expect(api.output).to.include(name);
    }
    const worker = startIn('workers/main.ts', {});
    expect(worker.status).to.equal(1);
    expect(worker.output).to.include('PUBLIC_URL is required').and.include('EMAIL_LINK_SECRET is required').and.include('EMAIL_PROVIDER');
    expect(worker.output).to.not.include('METRICS_TOKEN');
  });

  it('a complete production environment has no problems', () => {
    const env = {
      NODE_ENV: 'production', PUBLIC_URL: 'https://book.example.com', EMAIL_PROVIDER: 'smtp', SMTP_URL: 'smtp://mail.example.com:25',
      JWT_SECRET: SECRET_A, EMAIL_LINK_SECRET: SECRET_B, METRICS_TOKEN: 'm'.repeat(20), CORS_ORIGINS: 'https://app.example.com',
      WHATSAPP_CHANNEL: 'cloud', WHATSAPP_ACCESS_TOKEN: 'EAAG-token', WHATSAPP_PHONE_NUMBER_ID: '1234567890', WHATSAPP_APP_SECRET: SECRET_B, WHATSAPP_VERIFY_TOKEN: 'verify-me',
    };
    expect(productionProblems('api', env)).to.deep.equal([]);
    // The WhatsApp simulator answers nobody real: production refuses it unless asked for, and the Cloud API needs its four settings.
    expect(productionProblems('worker', { ...env, WHATSAPP_CHANNEL: undefined })).to.deep.equal(['WHATSAPP_CHANNEL must be cloud or web (the simulator answers nobody real); set WHATSAPP_SIMULATOR_IN_PRODUCTION=1 to run it on purpose']);
    expect(productionProblems('worker', { ...env, WHATSAPP_CHANNEL: undefined, WHATSAPP_SIMULATOR_IN_PRODUCTION: '1' })).to.deep.equal([]);
    expect(productionProblems('worker', { ...env, WHATSAPP_APP_SECRET: undefined })).to.deep.equal(['WHATSAPP_APP_SECRET is required with WHATSAPP_CHANNEL=cloud']);
    expect(productionProblems('worker', env)).to.deep.equal([]);
    expect(productionProblems('api', { ...env, EMAIL_LINK_SECRET: SECRET_A })).to.deep.equal(['EMAIL_LINK_SECRET must differ from JWT_SECRET']);
  });

  it('sends security headers on API answers and on errors', async () => {
    for (const path of ['/api/v1/tours', '/api/v1/nothing-here']) {
      const res = await api('GET', path);
      expect(res.headers.get('content-security-policy')).to.include("frame-ancestors 'none'");
      expect(res.headers.get('x-frame-options')).to.equal('DENY');
      expect(res.headers.get('referrer-policy')).to.equal('no-referrer');
      expect(res.headers.get('x-content-type-options')).to.equal('nosniff');
      expect(res.headers.get('strict-transport-security')).to.equal(null); // production only
    }
  });

  it('answers CORS only for the allowlisted origins', async () => {
    const app = new Koa();
    app.use(problemRenderer());
    app.use(corsAllowlist(['https://app.example.com']));
    app.use(async (ctx) => { ctx.body = { ok: true }; });
    const server = http.createServer(app.callback());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const preflight = (origin: string) => fetch(`${base}/api/v1/bookings`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST' } });
      const ok = await preflight('https://app.example.com');
      expect(ok.status).to.equal(204);
      expect(ok.headers.get('access-control-allow-origin')).to.equal('https://app.example.com');
      const evil = await preflight('https://evil.example');
      expect(evil.status).to.equal(403);
      expect(evil.headers.get('access-control-allow-origin')).to.equal(null);
      const simple = await fetch(`${base}/x`, { headers: { origin: 'https://evil.example' } });
      expect(simple.headers.get('access-control-allow-origin')).to.equal(null);
      expect((await fetch(`${base}/x`, { headers: { origin: 'https://app.example.com' } })).headers.get('access-control-allow-origin')).to.equal('https://app.example.com');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('JWT: the current key signs with its kid; a token of the previous key verifies until that key is dropped', async () => {
    const oldToken = await loginAs('admin');
    const oldKid = jwtKeys().current.id;
    expect(jwt.decode(oldToken, { complete: true })!.header.kid).to.equal(oldKid);
    const oldSecret = jwtKeys().current.secret;
    await withEnv({ JWT_SECRET: SECRET_A, JWT_PREVIOUS_SECRETS: oldSecret }, async () => {
      expect((await api('GET', '/api/v1/approvals', { token: oldToken })).status).to.equal(200);
      const login = await api('POST', '/api/v1/auth/login', { body: { email: 'admin@demo.test', password: DEMO_PASSWORD } });
      expect(jwt.decode(login.body.accessToken, { complete: true })!.header.kid).to.equal(keyId(SECRET_A));
      expect((await api('GET', '/api/v1/approvals', { token: login.body.accessToken })).status).to.equal(200);
    });
    await withEnv({ JWT_SECRET: SECRET_A, JWT_PREVIOUS_SECRETS: undefined }, async () => {
      expect((await api('GET', '/api/v1/approvals', { token: oldToken })).status).to.equal(401);
    });
    expect((await api('GET', '/api/v1/approvals', { token: oldToken })).status).to.equal(200);
  });

  it('email links: a separate key from the JWT one, with ids; links of the previous key keep working', async () => {
    expect(emailLinkSecret()).to.not.equal(jwtKeys().current.secret);
    const [row] = await stack().knex('contacts').insert({ email: `rotate-${Date.now()}@example.com`, source: 'api' }).returning('id');
    const sent = signUnsubscribeToken(row.id, emailLinkSecret());
    expect(readUnsubscribeToken(sent, emailLinkSecret())!.keyId).to.equal(keyId(emailLinkSecret()));
    const oldSecret = emailLinkSecret();
    const page = async (token: string) => (await fetch(`${stack().baseUrl}/u/${token}`)).status;
    await withEnv({ EMAIL_LINK_SECRET: SECRET_B, EMAIL_LINK_PREVIOUS_SECRETS: oldSecret }, async () => {
      expect(await page(sent)).to.equal(200);
      expect(await page(signUnsubscribeToken(row.id, SECRET_B))).to.equal(200);
    });
    await withEnv({ EMAIL_LINK_SECRET: SECRET_B, EMAIL_LINK_PREVIOUS_SECRETS: undefined }, async () => {
      expect(await page(sent)).to.equal(404);
    });
    // A link sent before links had key ids: signed with the key derived from the JWT one, undated.
    const legacyKey = crypto.createHmac('sha256', jwtKeys().current.secret).update('email-links').digest('base64url');
    const legacy = `${Buffer.from(row.id).toString('base64url')}.${crypto.createHmac('sha256', legacyKey).update(`u\n${row.id}`).digest().subarray(0, 16).toString('base64url')}`;
    const old = await fetch(`${stack().baseUrl}/u/${legacy}`);
    expect(old.status).to.equal(200);
    expect(await old.text()).to.include('older email'); // undated: it only unsubscribes
  });
});
