/**
 * The marketer's screens in a real Chromium: the segment builder's live count (equal to the
 * API's count for the same rules, before and after a rule changes), a campaign scheduled and
 * watched to "sent" on its page without reloading, the template preview following the MJML,
 * a CSV import with a bad row (progress to done, the error report), automations; axe and a
 * screenshot on each screen, in English and Spanish.
 */
import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import AxeBuilder from '@axe-core/playwright';
import { consoleUrl, expectAccessible, launchBrowser, newContext, screenshot, signIn } from '../support/browser';
import { api, loginAs } from '../support/http';
import { eventually } from '../support/bookings';
import { audience, marketingTemplate } from '../support/campaigns';
import { stack } from '../support/stack';

/** The figure the builder shows once the count belongs to the rules on screen. */
async function settledCount(page: Page): Promise<number> {
  await page.locator('[data-testid="segment-count"][data-settled="true"]').waitFor({ timeout: 60_000 });
  return Number(await page.getByTestId('segment-matching').textContent());
}

async function apiCount(token: string, rules: unknown): Promise<number> {
  const res = await api('POST', '/api/v1/segments/count', { token, body: { rules } });
  expect(res.status, JSON.stringify(res.body)).to.equal(200);
  return res.body.matching;
}

/**
 * expectAccessible without the email preview: its sandboxed frame runs no script, so axe cannot
 * be injected there (the evaluation waits for ever), and its content is the marketer's email, not the console.
 */
async function expectAccessibleBesidesPreview(page: Page, screen: string): Promise<void> {
  const result = await new AxeBuilder({ page }).exclude('[data-testid="template-preview"]').analyze();
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(bad.map((v) => `${v.impact} ${v.id}: ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`), `axe on ${screen}`).to.deep.equal([]);
}

async function openScreen(page: Page, name: RegExp, heading: string | RegExp) {
  await page.getByRole('navigation').getByRole('link', { name }).click();
  await page.getByRole('heading', { level: 1, name: heading }).waitFor();
}

describe('operator console: marketing screens', function () {
  this.timeout(400_000);
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let token: string;

  before(async () => {
    browser = await launchBrowser();
    context = await newContext(browser, 'en');
    page = await context.newPage();
    token = await loginAs('marketer');
    await signIn(page, 'marketer@demo.test');
  });
  after(async () => {
    await context?.close();
    await browser?.close();
  });

  it('builds a segment whose live count follows its rules and equals the API\'s count, and saves it', async () => {
    const { tag } = await audience(7); // languages es, en, es, en, ...: 4 es and 3 en
    await openScreen(page, /^Segments$/, 'Segments');
    const first = page.getByRole('group', { name: 'Condition 1' });
    await first.getByLabel('Field').selectOption('tag');
    await first.getByLabel('Value').fill(tag);
    const byTag = { all: [{ field: 'tag', op: 'has', value: tag }] };
    const expectedByTag = await apiCount(token, byTag);
    expect(expectedByTag).to.equal(7);
    const shownByTag = await eventually(async () => ((await settledCount(page)) === expectedByTag ? expectedByTag : undefined), 60_000, 200)
      .catch(async () => { throw new Error(`the builder shows ${await page.getByTestId('segment-matching').textContent()}, the API counts ${expectedByTag}`); });

    await page.getByRole('button', { name: 'Add condition' }).click();
    const second = page.getByRole('group', { name: 'Condition 2' });
    await second.getByLabel('Field').selectOption('language');
    await second.getByLabel('Operator').selectOption('eq');
    await second.getByLabel('Value').selectOption('en');
    const byTagAndLanguage = { all: [{ field: 'tag', op: 'has', value: tag }, { field: 'language', op: 'eq', value: 'en' }] };
    const expectedBoth = await apiCount(token, byTagAndLanguage);
    expect(expectedBoth).to.equal(3);
    const shownBoth = await eventually(async () => ((await settledCount(page)) === expectedBoth ? expectedBoth : undefined), 60_000, 200)
      .catch(async () => { throw new Error(`the builder shows ${await page.getByTestId('segment-matching').textContent()}, the API counts ${expectedBoth}`); });
    expect(shownBoth).to.not.equal(shownByTag);

    await page.getByLabel('Segment name').fill(`English ${tag}`);
    await page.getByRole('button', { name: 'Save segment' }).click();
    await page.getByText(`Segment "English ${tag}" saved.`).waitFor();
    const saved = await stack().knex('segments').where({ name: `English ${tag}` }).first('rules');
    expect(saved.rules).to.deep.equal(byTagAndLanguage);
    await page.getByRole('table', { name: 'Saved segments, newest first' }).getByText(`English ${tag}`).waitFor();
    await expectAccessible(page, 'segments');
    await screenshot(page, 'segments-en');
  });

  it('creates a campaign, schedules it and watches its progress bar reach "sent" without reloading', async () => {
    const { tag, segmentId } = await audience(40);
    const templateId = await marketingTemplate(`Autumn ${tag}`);
    await openScreen(page, /^Campaigns$/, 'Campaigns');
    await page.getByLabel('Campaign name').fill(`Autumn ${tag}`);
    await page.getByLabel('Segment').selectOption(segmentId);
    await page.getByLabel('Variant 1 template').selectOption(templateId);
    await page.getByLabel('Sending rate (emails per second, optional)').fill('20');
    await expectAccessible(page, 'campaigns');
    await screenshot(page, 'campaigns-en');
    await page.getByRole('button', { name: 'Create draft' }).click();
    await page.waitForURL(/\/console\/campaigns\/[0-9a-f-]{36}$/);
    const campaignId = page.url().split('/').pop()!;
    await page.getByTestId('campaign-status').and(page.locator('[data-status="draft"]')).waitFor();
    // Anything that reloads the page drops this marker.
    await page.evaluate('window.notReloaded = true');

    await page.getByRole('button', { name: 'Schedule now' }).click();
    const seen = new Set<string>();
    await eventually(async () => {
      const status = await page.getByTestId('campaign-progress').getAttribute('data-status');
      seen.add(status ?? '');
      return status === 'sent';
    }, 120_000, 100);
    expect(await page.evaluate('window.notReloaded === true')).to.equal(true);
    expect(await page.getByTestId('campaign-progress').getAttribute('data-percent')).to.equal('100');
    expect(await page.getByRole('progressbar', { name: 'Sending progress' }).getAttribute('aria-valuenow')).to.equal('100');
    const stored = await api('GET', `/api/v1/campaigns/${campaignId}`, { token });
    expect(stored.body.status).to.equal('sent');
    expect(stored.body.progress.sent).to.equal(40);
    expect(await page.getByTestId('campaign-sent').textContent()).to.equal('40');
    expect(await page.getByTestId('variant-A').locator('td').nth(2).textContent()).to.equal('40');
    // Steering a sent campaign is not offered.
    expect(await page.getByRole('button', { name: 'Pause' }).count()).to.equal(0);
    await expectAccessible(page, 'campaign');
    await screenshot(page, 'campaign-en');
  });

  it('pauses, resumes and cancels a sending campaign from its page', async () => {
    const { tag, segmentId } = await audience(300);
    const templateId = await marketingTemplate(`Slow ${tag}`);
    const created = await api('POST', '/api/v1/campaigns', { token, body: { name: `Slow ${tag}`, segmentId, variants: [{ name: 'A', templateId }], ratePerSecond: 5 } });
    expect(created.status, JSON.stringify(created.body)).to.equal(201);
    await page.goto(consoleUrl(`/campaigns/${created.body.id}`));
    await page.getByRole('button', { name: 'Schedule now' }).click();
    await page.getByTestId('campaign-status').and(page.locator('[data-status="sending"]')).waitFor({ timeout: 90_000 });
    await page.getByRole('button', { name: 'Pause' }).click();
    await page.getByTestId('campaign-status').and(page.locator('[data-status="paused"]')).waitFor({ timeout: 90_000 });
    await page.getByRole('button', { name: 'Resume' }).click();
    await page.getByTestId('campaign-status').and(page.locator('[data-status="sending"]')).waitFor({ timeout: 90_000 });
    await page.getByRole('button', { name: 'Cancel campaign' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Yes' }).click();
    await page.getByTestId('campaign-status').and(page.locator('[data-status="cancelled"]')).waitFor({ timeout: 90_000 });
    expect(await page.getByRole('button', { name: 'Resume' }).count()).to.equal(0);
  });

  it('shows the API\'s own refusal when a step is no longer possible, then what is true now', async () => {
    const { tag, segmentId } = await audience(3);
    const templateId = await marketingTemplate(`Late ${tag}`);
    const created = await api('POST', '/api/v1/campaigns', { token, body: { name: `Late ${tag}`, segmentId, variants: [{ name: 'A', templateId }] } });
    // A page whose live stream is down, so it still shows the draft after someone else scheduled it.
    const stale = await context.newPage();
    await stale.route('**/api/v1/events', (r) => r.abort());
    await stale.goto(consoleUrl(`/campaigns/${created.body.id}`));
    await stale.getByTestId('campaign-status').and(stale.locator('[data-status="draft"]')).waitFor({ timeout: 60_000 });
    expect((await api('POST', `/api/v1/campaigns/${created.body.id}/schedule`, { token, body: {} })).status).to.equal(200);
    await stale.getByRole('button', { name: 'Schedule now' }).click();
    const refusal = stale.getByTestId('campaign-refusal');
    await refusal.waitFor({ timeout: 60_000 });
    expect(await refusal.textContent()).to.contain('Only a draft can be scheduled; this campaign is');
    await stale.getByTestId('campaign-status').and(stale.locator('[data-status="draft"]')).waitFor({ state: 'detached', timeout: 60_000 });
    await stale.close();
  });

  it('previews the template as its MJML is edited, saves it and sends a test', async () => {
    const name = `Preview ${Date.now()}`;
    const templateId = await marketingTemplate(name);
    await openScreen(page, /^Templates$/, 'Email templates');
    await page.getByText('ES', { exact: true }).click();
    await page.getByRole('button', { name: `Edit: ${name}` }).click();
    // The email renders in a sandboxed frame that runs no script (not even a test's): its document is read from srcdoc.
    const frame = page.getByTestId('template-preview');
    const previewHas = (text: string) => eventually(async () => ((await frame.getAttribute('srcdoc'))?.includes(text) ? true : undefined), 60_000, 200);
    await previewHas('new tours are out');
    const mjml = page.getByLabel(/^MJML \(ES\)/);
    const edited = (await mjml.inputValue()).replace('new tours are out', 'autumn escapes are here');
    await mjml.fill(edited);
    await previewHas('autumn escapes are here');
    expect(await frame.getAttribute('srcdoc')).to.not.contain('new tours are out');
    // The preview is the sample contact's: Lucía for a Spanish template.
    expect(await frame.getAttribute('srcdoc')).to.contain('Hola Lucía');
    expect(await frame.getAttribute('sandbox')).to.equal('');

    // A broken edit shows MJML's own error and keeps the last good preview.
    await mjml.fill(edited.replace('<mj-column>', '<mj-column><mj-sparkles>!</mj-sparkles>'));
    await page.getByTestId('template-preview-error').waitFor({ timeout: 60_000 });
    await mjml.fill(edited);
    await page.locator('[data-testid="template-preview"][data-settled="true"]').waitFor({ timeout: 60_000 });

    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByText('Saved.').waitFor();
    const stored = await stack().knex('email_templates').where({ id: templateId }).first('mjml');
    expect(stored.mjml).to.contain('autumn escapes are here');

    await page.getByLabel('Send a test to').fill('qa@example.com');
    await page.getByRole('button', { name: 'Send test' }).click();
    const result = page.getByTestId('test-send-result');
    await result.waitFor();
    expect(await result.getAttribute('data-status')).to.equal('accepted');
    expect(await result.textContent()).to.contain('qa@example.com');
    await expectAccessibleBesidesPreview(page, 'templates');
    await screenshot(page, 'templates-en');
  });

  it('imports a CSV with one bad row: progress to done, then the error report', async () => {
    const tag = `imp${Date.now()}`;
    const csv = [
      'email,first_name,language,tags,consent_email',
      `ana.${tag}@example.com,Ana,es,${tag},yes`,
      `not-an-email,Bad,en,${tag},yes`,
      `bo.${tag}@example.com,Bo,en,${tag},no`,
      `cy.${tag}@example.com,Cy,en,${tag},yes`,
    ].join('\n');
    await openScreen(page, /^Contacts$/, 'Contacts');
    await page.locator('input[type="file"]').setInputFiles({ name: 'contacts.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    const progress = page.getByTestId('import-progress');
    await page.locator('[data-testid="import-progress"][data-status="completed"]').waitFor({ timeout: 90_000 });
    expect(await progress.getAttribute('data-percent')).to.equal('100');
    expect(await progress.textContent()).to.equal('4 of 4 rows read');
    expect(await page.getByTestId('import-created').textContent()).to.equal('3');
    expect(await page.getByTestId('import-failed').textContent()).to.equal('1');
    const report = page.getByRole('table', { name: 'Rows refused and why' });
    const rows = report.locator('tbody tr');
    expect(await rows.count()).to.equal(1);
    const cells = await rows.first().locator('td').allTextContents();
    expect(cells[0]).to.equal('3'); // the header is line 1
    expect(cells[1]).to.equal('not-an-email');
    expect(cells[2]).to.match(/email/i);

    await page.getByLabel('Tag').fill(tag);
    await page.getByRole('button', { name: 'Find contacts' }).click();
    const table = page.getByRole('table', { name: 'Contacts, newest first, with their consent' });
    await table.getByText(`bo.${tag}@example.com`).waitFor();
    expect(await table.locator('tbody tr').count()).to.equal(3);
    const bo = table.locator('tbody tr', { hasText: `bo.${tag}@example.com` });
    expect(await bo.getByText('withdrawn').count()).to.equal(1);
    await expectAccessible(page, 'contacts');
    await screenshot(page, 'contacts-en');
  });

  it('shows automations with their steps and enrollments, and enrolls a contact', async () => {
    const { contacts } = await audience(1);
    const templateId = await marketingTemplate(`Welcome ${Date.now()}`);
    const name = `Welcome series ${Date.now()}`;
    const created = await api('POST', '/api/v1/automations', { token, body: { name, trigger: 'manual', steps: [{ wait: { hours: 24 } }, { send: { templateId } }] } });
    expect(created.status, JSON.stringify(created.body)).to.equal(201);
    await openScreen(page, /^Automations$/, 'Automations');
    await page.getByRole('button', { name: new RegExp(name) }).click();
    const steps = page.getByTestId(`automation-steps-${created.body.id}`);
    await steps.waitFor();
    expect(await steps.locator('li').first().textContent()).to.equal('Wait 24 h');
    expect(await steps.locator('li').nth(1).textContent()).to.match(/^Send “Welcome \d+”$/);
    await page.getByLabel('Contact email').fill(contacts[0].email);
    await page.getByRole('button', { name: 'Enroll', exact: true }).click();
    const answer = page.getByText(`${contacts[0].email} enrolled.`).or(page.getByRole('alert'));
    await answer.first().waitFor({ timeout: 90_000 });
    expect(await answer.first().textContent()).to.equal(`${contacts[0].email} enrolled.`);
    const enrolled = await stack().knex('automation_enrollments').where({ automation_id: created.body.id, contact_id: contacts[0].id }).first('status');
    expect(enrolled, 'an enrollment row').to.not.equal(undefined);
    await page.getByRole('table', { name: 'Contacts per step and status' }).waitFor();
    await expectAccessible(page, 'automations');
    await screenshot(page, 'automations-en');
  });

  it('shows every marketing screen in Spanish without serious accessibility problems', async () => {
    await page.getByText('Español').click();
    for (const [link, heading, file] of [
      [/^Contactos$/, 'Contactos', 'contacts-es'], [/^Segmentos$/, 'Segmentos', 'segments-es'], [/^Plantillas$/, 'Plantillas de email', 'templates-es'],
      [/^Campañas$/, 'Campañas', 'campaigns-es'], [/^Automatizaciones$/, 'Automatizaciones', 'automations-es'],
    ] as const) {
      await openScreen(page, link, heading);
      await expectAccessible(page, file);
      await screenshot(page, file);
    }
    const c = await stack().knex('campaigns').orderBy('created_at', 'desc').first('id');
    await page.goto(consoleUrl(`/campaigns/${c.id}`));
    await page.getByRole('heading', { name: 'Resultados por variante' }).waitFor();
    await expectAccessible(page, 'campaign-es');
    await screenshot(page, 'campaign-es');
    await page.getByText('English').click();
  });
});
