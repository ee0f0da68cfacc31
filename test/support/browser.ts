/**
 * Browser tests drive Debian's Chromium (found by path, never downloaded) with playwright-core
 * against the console the test stack's API serves. Screenshots go to test-artifacts/screenshots.
 */
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import AxeBuilder from '@axe-core/playwright';
import { ensureConsoleBuilt } from '../../scripts/console-build';
import { DEMO_PASSWORD } from '../../scripts/demo-seed';
import { projectRoot } from '../../platform/config';
import { stack } from './stack';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const artifactsDir = path.join(projectRoot, 'test-artifacts', 'screenshots');

/** The console built from the current sources, and a headless Chromium. */
export async function launchBrowser(executablePath = CHROMIUM_PATH): Promise<Browser> {
  if (!fs.existsSync(executablePath)) {
    throw new Error(
      `Chromium is not at ${executablePath}. The browser tests use Debian's package and never download a browser: ` +
      'run `apt-get install -y chromium` (as root), or set CHROMIUM_PATH to a Chromium binary.',
    );
  }
  await ensureConsoleBuilt();
  return chromium.launch({
    executablePath,
    headless: true,
    // This machine's network is closed: Chromium's own background traffic only makes noise.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

export function consoleUrl(p = '/'): string {
  return `${stack().baseUrl}/console${p}`;
}

export async function newContext(browser: Browser, lang: 'en' | 'es' = 'en'): Promise<BrowserContext> {
  const context = await browser.newContext({ locale: lang === 'es' ? 'es-ES' : 'en-US', viewport: { width: 1366, height: 900 } });
  // Runs in the page: the language a person would have picked before.
  await context.addInitScript(`if (!localStorage.getItem('spirit.lang')) localStorage.setItem('spirit.lang', ${JSON.stringify(lang)});`);
  return context;
}

/** Signs in through the login form, as a person would. */
export async function signIn(page: Page, email: string, password = DEMO_PASSWORD, startAt = '/'): Promise<void> {
  await page.goto(consoleUrl(startAt));
  await page.getByLabel(/^(Email|Correo electrónico)/).fill(email);
  await page.getByLabel(/^(Password|Contraseña)/).fill(password);
  await page.getByRole('button', { name: /^(Sign in|Entrar)$/ }).click();
  await page.getByTestId('live-status').waitFor();
}

export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(artifactsDir, { recursive: true });
  const file = path.join(artifactsDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** axe finds no serious or critical violation on the page as it is now. */
export async function expectAccessible(page: Page, screen: string): Promise<void> {
  const result = await new AxeBuilder({ page }).analyze();
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const report = bad.map((v) => `${v.impact} ${v.id}: ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`).join('\n');
  expect(bad, `axe on ${screen}:\n${report}`).to.have.length(0);
}
