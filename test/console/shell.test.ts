/** The console is served by the API, loads in Chromium, and its sign-in page is accessible in both languages. */
import fs from 'node:fs';
import { expect } from 'chai';
import type { Browser } from 'playwright-core';
import { consoleUrl, expectAccessible, launchBrowser, newContext, screenshot, signIn } from '../support/browser';
import { stack } from '../support/stack';
import { generateConsoleTypes, typesFile } from '../../api/console-types';

describe('operator console: serving and sign-in page', function () {
  this.timeout(120_000);
  let browser: Browser;

  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  it('serves the app under /console with cacheable hashed assets and an uncached index', async () => {
    const index = await fetch(`${stack().baseUrl}/console/bookings/whatever`);
    expect(index.status).to.equal(200);
    expect(index.headers.get('cache-control')).to.equal('no-cache');
    const html = await index.text();
    const asset = html.match(/\/console\/assets\/[^"]+\.js/)?.[0];
    expect(asset, 'index.html names its script').to.be.a('string');
    const js = await fetch(`${stack().baseUrl}${asset}`, { headers: { 'accept-encoding': 'gzip' } });
    expect(js.status).to.equal(200);
    expect(js.headers.get('cache-control')).to.contain('immutable');
    expect(js.headers.get('content-type')).to.contain('javascript');
    const missing = await fetch(`${stack().baseUrl}/console/assets/nope-123.js`);
    expect(missing.status).to.equal(404);
    expect(missing.headers.get('content-type')).to.contain('application/problem+json');
    const escape = await fetch(`${stack().baseUrl}/console/assets/..%2f..%2fpackage.json`);
    expect(escape.status).to.equal(404);
    const malformed = await fetch(`${stack().baseUrl}/console/assets/%E0%A4%A.js`);
    expect(malformed.status).to.equal(404);
  });

  it('shows the sign-in page in English and Spanish without serious accessibility problems', async () => {
    const context = await newContext(browser, 'en');
    const page = await context.newPage();
    await page.goto(consoleUrl('/'));
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await expect(page.getByLabel('Password')).to.be.ok;
    await expectAccessible(page, 'sign-in (en)');
    await screenshot(page, 'sign-in-en');
    await page.getByText('Español').click();
    await page.getByRole('heading', { name: 'Iniciar sesión' }).waitFor();
    expect(await page.getByLabel('Contraseña').count()).to.equal(1);
    expect(await page.locator('html').getAttribute('lang')).to.equal('es');
    await expectAccessible(page, 'sign-in (es)');
    await screenshot(page, 'sign-in-es');
    await context.close();
  });

  it('keeps the session across a reload and a second tab, and signing out in one tab signs out the other', async () => {
    const context = await newContext(browser, 'en');
    const first = await context.newPage();
    await signIn(first, 'operator@demo.test');
    await first.reload();
    await first.getByTestId('live-status').waitFor();
    const second = await context.newPage();
    await second.goto(consoleUrl('/bookings'));
    await second.getByTestId('live-status').waitFor();
    await first.getByRole('button', { name: 'Sign out' }).click();
    await first.getByRole('heading', { name: 'Sign in' }).waitFor();
    await second.getByRole('heading', { name: 'Sign in' }).waitFor({ timeout: 5000 });
    await second.reload();
    await second.getByRole('heading', { name: 'Sign in' }).waitFor();
    await context.close();
  });

  it('without Chromium, fails with the command that installs it (never downloads a browser)', async () => {
    let message = '';
    await launchBrowser('/nonexistent/chromium').catch((err: Error) => { message = err.message; });
    expect(message).to.contain('/nonexistent/chromium').and.to.contain('apt-get install -y chromium');
  });

  it('has its API types generated from the current routes (npm run console:types)', async () => {
    const committed = fs.readFileSync(typesFile, 'utf8');
    expect(committed === (await generateConsoleTypes()), 'console/src/api/schema.d.ts is stale: run npm run console:types').to.equal(true);
  });
});
