/**
 * The booking screens in a real Chromium: an operator books two passengers at the desk, sends
 * the payment link, the customer pays on the hosted page and the booking's open page turns
 * confirmed without a reload; a customer cancels late, the refund waits for approval, an admin
 * approves it from the inbox in another browser context and the customer's page shows the
 * refund without a reload; search by reference; an accountant reads but does not steer.
 */
import { expect } from 'chai';
import type { Browser, Page } from 'playwright-core';
import { consoleUrl, expectAccessible, launchBrowser, newContext, screenshot, signIn } from '../support/browser';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';
import { eventually, hold, scenario } from '../support/bookings';

/** A departure of the demo MAD branch (where the demo operator and accountant work). */
async function madScenario(daysAhead: number) {
  const { knex } = stack();
  const s = await scenario({ daysAhead, adultMinor: 10000 });
  const mad = await knex('branches').where({ code: 'MAD' }).first('id');
  await knex('tours').where({ id: s.tourId }).update({ branch_id: mad.id });
  const title = (await knex('tour_translations').where({ tour_id: s.tourId, language: 'en' }).first('title')).title as string;
  return { ...s, title };
}

/** A mark on the page's window: still there means the page was never reloaded or left. */
async function markWindow(page: Page): Promise<void> {
  await page.evaluate(() => { (globalThis as unknown as { spiritMark: string }).spiritMark = 'kept'; });
}
async function windowMarked(page: Page): Promise<boolean> {
  return page.evaluate(() => (globalThis as unknown as { spiritMark?: string }).spiritMark === 'kept');
}

describe('operator console: bookings, desk, booking page, my trips, approvals', function () {
  this.timeout(180_000);
  let browser: Browser;

  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  it('an operator books two passengers at the desk, opens the payment link, pays with pm_card_visa, and the open booking page turns confirmed without reloading; search by reference finds it', async () => {
    const s = await madScenario(60); // more than 45 days ahead: a deposit confirms it
    const context = await newContext(browser, 'en');
    const page = await context.newPage();
    await signIn(page, 'operator@demo.test');

    await page.getByRole('link', { name: 'Booking desk' }).click();
    await page.getByRole('heading', { level: 1, name: 'Booking desk' }).waitFor();
    const tour = page.getByRole('combobox', { name: 'Tour' });
    await tour.click();
    await tour.fill(s.title);
    await page.getByRole('option', { name: new RegExp(s.title) }).click();
    await page.getByRole('button', { name: /^Choose the departure/ }).first().click();
    await page.getByTestId('chosen-departure').waitFor();

    await page.getByLabel('First name (1)').fill('Ana');
    await page.getByLabel('Last name (1)').fill('García');
    await page.getByRole('button', { name: 'Add passenger' }).click();
    await page.getByLabel('First name (2)').fill('Luis');
    await page.getByLabel('Last name (2)').fill('García');
    const email = `ana.${Date.now()}@example.com`;
    await page.getByLabel('Contact name').fill('Ana García');
    await page.getByLabel('Email').fill(email);
    await expectAccessible(page, 'desk');
    await screenshot(page, 'desk-en');
    await page.getByRole('button', { name: 'Hold the seats' }).click();

    await page.waitForURL(/\/console\/bookings\/[0-9a-f-]{36}$/);
    const bookingId = page.url().split('/').pop()!;
    await page.getByRole('heading', { level: 1, name: /^Booking / }).waitFor();
    expect(await page.getByTestId('booking-status').getAttribute('data-status')).to.equal('held');
    expect(await page.getByTestId('passenger-row').count()).to.equal(2);
    const booking = await stack().knex('bookings').where({ id: bookingId }).first();
    expect(booking).to.include({ pax_count: 2, payment_plan: 'deposit', departure_id: s.departureId });
    await markWindow(page);

    await page.getByRole('button', { name: 'Make a payment link' }).click();
    const link = await page.getByTestId('payment-link').inputValue();
    expect(link).to.match(/\/pay\/booking\/[A-Za-z0-9_.-]+$/);

    // The customer's side, in the same browser context: the hosted payment page of the link.
    const payPage = await context.newPage();
    await payPage.goto(`${stack().baseUrl}${new URL(link).pathname}`);
    await payPage.getByRole('button', { name: 'Pay with a test card' }).click();
    await payPage.getByRole('status').filter({ hasText: 'Thank you' }).waitFor();
    await payPage.close();
    await page.bringToFront();

    const started = Date.now();
    await page.locator('[data-testid="booking-status"][data-status="confirmed"]').waitFor({ timeout: 15_000 });
    console.log(`      booking page turned confirmed ${Date.now() - started} ms after the payment page answered`);
    expect(await windowMarked(page), 'the booking page was not reloaded').to.equal(true);
    expect(Number(await page.getByTestId('amount-paid').getAttribute('data-minor'))).to.be.greaterThan(0);
    await page.locator('[data-testid="payment-row"][data-status="captured"]').waitFor();
    await expectAccessible(page, 'booking');
    await screenshot(page, 'booking-en');

    // Search by reference, in the list; the table filters as one types.
    await page.getByRole('link', { name: 'Bookings', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Bookings' }).waitFor();
    await page.getByTestId('booking-row').first().waitFor();
    const search = page.getByLabel('Search');
    const t0 = Date.now();
    // The browser's own clock from the input event: Playwright's fill and polling add their own time.
    await search.evaluate((el) => el.addEventListener('input', () => { (globalThis as unknown as { typedAt: number }).typedAt = performance.now(); }, { once: true }));
    await search.fill(booking.reference);
    const shownAfter = await page.waitForFunction((ref: string) => {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const doc = (globalThis as any).document;
      const table = doc.querySelector('[data-testid="bookings-table"]');
      const rows = doc.querySelectorAll('[data-testid="booking-row"]');
      // The rows of this filter's answer, not the previous page still shown while it loads.
      const shown = table?.getAttribute('data-filter').includes(ref) && table.getAttribute('data-placeholder') === 'no'
        && rows.length === 1 && String(rows[0].textContent).includes(ref);
      const at = (globalThis as any).typedAt;
      const r = performance.getEntriesByType('resource').filter((e: any) => e.name.includes('q=')).pop() as any;
      return shown && JSON.stringify({ total: performance.now() - at, fetchStart: r?.fetchStart - at, responseEnd: r?.responseEnd - at });
    }, booking.reference as string, { polling: 'raf' });
    const timing = JSON.parse(String(await shownAfter.jsonValue())) as { total: number; fetchStart: number; responseEnd: number };
    const inPage = Math.round(timing.total);
    console.log(`      search by reference: ${inPage} ms in the page from the input event to the rendered row (request sent at ${Math.round(timing.fetchStart)} ms after a 150 ms debounce, answered at ${Math.round(timing.responseEnd)} ms); ${Date.now() - t0} ms as the test sees it`);
    // The 300 ms goal is measured by bench/console.ts on a quiet machine; here only a gross regression fails.
    expect(inPage, 'keystroke to rendered rows').to.be.below(1500);
    expect(await windowMarked(page), 'navigation stayed in the app').to.equal(true);
    await expectAccessible(page, 'bookings');
    await screenshot(page, 'bookings-en');
    await page.getByRole('link', { name: booking.reference }).click();
    await page.waitForURL(new RegExp(`/bookings/${bookingId}$`));
    await context.close();
  });

  it('a customer cancels late from their trips, the refund needs approval, an admin approves it from the inbox in a second context, and the customer sees the refund without reloading', async () => {
    const s = await madScenario(2.5); // within 3 days of departure: a manager approves the refund
    const token = await loginAs('customer');
    const booking = await hold(token, s.departureId, 1);
    const paid = await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, body: { paymentMethod: 'pm_card_visa' } });
    expect(paid.status, JSON.stringify(paid.body)).to.equal(201);

    const customerContext = await newContext(browser, 'en');
    const customer = await customerContext.newPage();
    await signIn(customer, 'customer@demo.test');
    await customer.getByRole('heading', { level: 1, name: 'My trips' }).waitFor();
    const row = customer.locator(`[data-testid="trip-row"][data-reference="${booking.reference}"]`);
    await row.waitFor();
    await expectAccessible(customer, 'my trips');
    await screenshot(customer, 'my-trips-en');
    await markWindow(customer);
    await row.getByRole('link', { name: booking.reference }).click();
    await customer.getByRole('heading', { level: 1, name: `Booking ${booking.reference}` }).waitFor();
    expect(await customer.getByTestId('booking-status').getAttribute('data-status')).to.equal('paid_in_full');
    // Customers do not get staff steering.
    expect(await customer.getByRole('button', { name: 'Make a payment link' }).count()).to.equal(0);

    await customer.getByRole('button', { name: 'Cancel booking' }).click();
    const dialog = customer.getByRole('dialog');
    await dialog.getByTestId('refund-quote').waitFor();
    const quoted = Number(await dialog.getByTestId('refund-quote').getAttribute('data-amount'));
    expect(quoted).to.equal(5000); // 2–6 days before: 50% of 100.00
    await dialog.getByText(/needs a manager's approval/).waitFor();
    await dialog.getByLabel('Reason for cancelling').fill('a family emergency');
    await dialog.getByRole('button', { name: 'Confirm cancellation' }).click();
    await dialog.locator('[data-testid="cancel-result"][data-status="pending_approval"]').waitFor();
    await dialog.getByRole('button', { name: 'Keep the booking' }).click();
    await customer.getByTestId('pending-approval').waitFor();
    expect(await customer.getByTestId('refund-row').count()).to.equal(0);

    // An admin, elsewhere: the approvals inbox.
    const adminContext = await newContext(browser, 'en');
    const admin = await adminContext.newPage();
    await signIn(admin, 'admin@demo.test');
    await admin.getByRole('link', { name: 'Approvals', exact: true }).click();
    await admin.getByRole('heading', { level: 1, name: 'Approvals' }).waitFor();
    const card = admin.locator(`[data-testid="approval"][data-booking-id="${booking.id}"]`);
    await card.waitFor();
    expect(await card.getByTestId('approval-what').textContent()).to.match(/refund/i);
    await expectAccessible(admin, 'approvals');
    await screenshot(admin, 'approvals-en');
    // A rejection needs a reason: the form says so and nothing is sent.
    await card.getByRole('button', { name: 'Reject' }).click();
    await card.getByText('Say why it is rejected.').waitFor();
    await card.getByRole('button', { name: 'Approve' }).click();
    await card.waitFor({ state: 'detached', timeout: 20_000 });

    // The customer's page, never reloaded, shows the refund.
    await customer.locator('[data-testid="refund-row"]').first().waitFor({ timeout: 20_000 });
    await customer.locator('[data-testid="booking-status"][data-status="cancelled"]').waitFor({ timeout: 20_000 });
    await eventually(async () => Number(await customer.getByTestId('amount-refunded').getAttribute('data-minor')) === 5000);
    expect(await windowMarked(customer), 'the customer\'s page was not reloaded').to.equal(true);
    await screenshot(customer, 'booking-refunded-en');
    await adminContext.close();
    await customerContext.close();
  });


  it('an operator changes passengers (a refusal shows the workflow\'s own words) and moves the booking to another departure, live on the page', async () => {
    const { knex } = stack();
    const s = await madScenario(20);
    const [later] = await knex('departures').insert({ tour_id: s.tourId, starts_at: new Date(+s.departureAt + 7 * 86_400_000), timezone: 'Europe/Madrid', capacity: 20 }).returning('id');
    const operatorToken = await loginAs('operator');
    const booking = await hold(operatorToken, s.departureId, 1);
    await knex('tours').where({ id: s.tourId }).update({ max_pax: 2 });

    const context = await newContext(browser, 'en');
    const page = await context.newPage();
    await signIn(page, 'operator@demo.test');
    await page.goto(consoleUrl(`/bookings/${booking.id}`));
    await page.getByRole('heading', { level: 1, name: `Booking ${booking.reference}` }).waitFor();
    await markWindow(page);

    await page.getByRole('button', { name: 'Change passengers' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('button', { name: 'Add passenger' }).click();
    await dialog.getByLabel('First name (2)').fill('Eva');
    await dialog.getByLabel('Last name (2)').fill('Ruiz');
    await dialog.getByRole('button', { name: 'Add passenger' }).click();
    await dialog.getByLabel('First name (3)').fill('Leo');
    await dialog.getByLabel('Last name (3)').fill('Ruiz');
    await dialog.getByRole('button', { name: 'Save the change' }).click();
    const refusal = dialog.getByRole('alert');
    await refusal.waitFor();
    const said = await refusal.textContent();
    console.log(`      refusal shown: ${said}`);
    expect(said).to.match(/2 passengers/);
    await dialog.getByRole('button', { name: 'Remove passenger 3' }).click();
    await dialog.getByRole('button', { name: 'Save the change' }).click();
    await dialog.getByRole('status').waitFor();
    await dialog.getByRole('button', { name: 'Close' }).first().click();
    await eventually(async () => (await page.getByTestId('passenger-row').count()) === 2);

    await page.getByRole('button', { name: 'Move to another departure' }).click();
    const move = page.getByRole('dialog');
    await move.getByRole('button', { name: /^Choose the departure/ }).first().click();
    await move.getByRole('button', { name: 'Move to this departure' }).click();
    await move.getByRole('status').or(move.getByRole('alert')).waitFor();
    expect(await move.getByRole('alert').count(), String(await move.getByRole('alert').first().textContent().catch(() => ''))).to.equal(0);
    await move.getByRole('button', { name: 'Close' }).first().click();
    await eventually(async () => (await knex('bookings').where({ id: booking.id }).first('departure_id')).departure_id === later.id);
    // Shown in the departure's own time zone, as travellers go by it.
    const { timezone } = await knex('departures').where({ id: later.id }).first('timezone');
    const expected = new Intl.DateTimeFormat('en-US', { dateStyle: 'medium', timeStyle: 'short', timeZone: timezone }).format(new Date(+s.departureAt + 7 * 86_400_000));
    await page.getByTestId('departure-time').filter({ hasText: expected }).waitFor();
    expect(await windowMarked(page)).to.equal(true);
    await context.close();
  });

  it('an accountant reads a booking with no steering buttons; staff get the workflow link to the Temporal UI', async () => {
    const s = await madScenario(20);
    const token = await loginAs('customer');
    const booking = await hold(token, s.departureId, 1);
    const before = process.env.TEMPORAL_UI_URL;
    process.env.TEMPORAL_UI_URL = 'http://127.0.0.1:8233/';
    try {
      const context = await newContext(browser, 'es');
      const page = await context.newPage();
      await signIn(page, 'accountant@demo.test');
      await page.goto(consoleUrl(`/bookings/${booking.id}`));
      await page.getByRole('heading', { level: 1, name: `Reserva ${booking.reference}` }).waitFor();
      await page.getByText('Puedes consultar esta reserva; tu rol no la gestiona.').waitFor();
      for (const name of ['Crear un enlace de pago', 'Cancelar reserva', 'Cambiar pasajeros', 'Pasar a otra salida']) {
        expect(await page.getByRole('button', { name }).count(), name).to.equal(0);
      }
      const href = await page.getByTestId('workflow-link').getAttribute('href');
      expect(href).to.equal(`http://127.0.0.1:8233/namespaces/default/workflows/booking-${booking.id}`);
      await expectAccessible(page, 'booking (es, accountant)');
      await screenshot(page, 'booking-es');
      await context.close();
    } finally {
      if (before === undefined) delete process.env.TEMPORAL_UI_URL; else process.env.TEMPORAL_UI_URL = before;
    }
  });
});
