/**
 * MultiChannelHub's customer flows on WhatsApp, end to end on the real stack: every message goes
 * in through services/conversations.ts `receiveInbound` (channel whatsapp, as the Cloud API and
 * whatsapp-web.js adapters call it), runs through the conversation workflow and the hub, and what
 * the customer gets is read back from the simulator's outbox (`whatsapp_simulator_messages`),
 * field by field: the tour list, the departure list, the party-size question, the hold (seats,
 * booking, link to the conversation), the payment link and its page paid with the sandbox, the
 * balance link, the cancellation with the refund shown first and made by the booking workflow,
 * numbered and titled picks, and a polite answer to a sticker. English and Spanish.
 */
import { expect } from 'chai';
import crypto from 'node:crypto';
import { config } from '../../platform/config';
import { receiveInbound } from '../../services/conversations';
import { conversationRoute } from '../../agents/multi-channel-hub/tools';
import { simulatorOutbox } from '../../integrations/whatsapp/simulator';
import type { OutboundWhatsApp } from '../../integrations/whatsapp/types';
import { api } from '../support/http';
import { eventually, scenario, seats } from '../support/bookings';
import { stack } from '../support/stack';

const seen = new Map<string, number>();
const names = new Map<string, string>();
const number = () => `+346${crypto.randomInt(10_000_000, 99_999_999)}`;

/** The customer writes (or picks); answers the one message the platform sent back. */
async function say(from: string, text: string, extra: { kind?: 'text' | 'interactive' | 'unsupported'; replyId?: string; type?: string; profileName?: string } = {}): Promise<OutboundWhatsApp> {
  const { knex, temporal } = stack();
  const after = seen.get(from) ?? 0;
  await receiveInbound(temporal, knex, {
    channel: 'whatsapp', from, to: config.whatsapp.phoneNumberId, text, messageId: `wamid.${crypto.randomUUID()}`, timeZone: 'Europe/Madrid',
    profileName: names.get(from) ?? 'Lucía Fernández', at: new Date(), ...extra,
  });
  // Booking messages (the confirmation, a receipt) reach the same number too: only the answers to messages count here.
  const answers = async () => {
    const o = await simulatorOutbox(knex, from, after);
    const replies = new Set(await knex('conversation_messages').whereIn('provider_message_id', o.map((x) => x.wamid)).whereNotNull('reply_to_id').pluck('provider_message_id'));
    return o.filter((x) => replies.has(x.wamid));
  };
  const out = await eventually(async () => { const o = await answers(); return o.length > 0 && o; }, 45_000, 100);
  expect(out, JSON.stringify(out)).to.have.length(1);
  seen.set(from, out[0].id);
  return out[0].message;
}

const conversationOf = (from: string) => stack().knex('conversations').where({ channel: 'whatsapp', customer_handle: from }).first();

/** A tour of its own in a city no other tour has, so a message can name it. */
async function tourIn(city: string, titles: { en: string; es: string }, options: Parameters<typeof scenario>[0]) {
  const s = await scenario(options);
  const { knex } = stack();
  await knex('tours').where({ id: s.tourId }).update({ destination_city: city });
  await knex('tour_translations').where({ tour_id: s.tourId }).del();
  await knex('tour_translations').insert([
    { tour_id: s.tourId, language: 'en', title: titles.en, summary: 's', description: 'd' },
    { tour_id: s.tourId, language: 'es', title: titles.es, summary: 's', description: 'd' },
  ]);
  return s;
}

/** The path of the payment link in a message, and the page it opens. */
async function openLink(text: string) {
  const m = /https?:\/\/[^\s/]+(\/pay\/booking\/[A-Za-z0-9_.-]+)/.exec(text);
  expect(m, text).to.not.equal(null);
  const page = await api('GET', m![1]);
  return { path: m![1], page };
}

async function payOnPage(path: string, html: string, method = 'pm_card_visa') {
  const attempt = /name="attempt" value="([0-9a-f-]{36})"/.exec(html)?.[1];
  expect(attempt, html).to.be.a('string');
  return api('POST', path, { raw: `method=${method}&attempt=${attempt}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
}

describe('WhatsApp customer flows (MultiChannelHub, end to end through the simulator)', function () {
  this.timeout(180_000);
  const tag = crypto.randomBytes(2).toString('hex');
  const city = `Cuenca${tag}`;

  it('English: browse list → pick a tour → departures list → party size → email → a real hold with its payment link → pay it with the sandbox', async () => {
    const { knex } = stack();
    const a = await tourIn(city, { en: 'Hanging Houses Walk', es: 'Paseo de las Casas Colgadas' }, { daysAhead: 10, capacity: 8, adultMinor: 4500 });
    const b = await tourIn(city, { en: 'Enchanted City Hike and Picnic Lunch', es: 'Ciudad Encantada con picnic' }, { daysAhead: 12, capacity: 8, adultMinor: 6000 });
    const from = number();

    // The tours of the place: a LIST, rows `tour:<code>`, titles of at most 24 characters, the price in the description.
    const list = await say(from, `What tours do you have in ${city}?`);
    const codes = await knex('tours').whereIn('id', [a.tourId, b.tourId]).orderBy('code').pluck('code');
    expect(list.kind).to.equal('list');
    if (list.kind !== 'list') return;
    expect(list.button).to.equal('See tours');
    expect(list.rows.map((r) => r.id)).to.deep.equal(codes.map((c: string) => `tour:${c}`));
    const rowA = list.rows.find((r) => r.title === 'Hanging Houses Walk')!;
    const rowB = list.rows.find((r) => r.title.startsWith('Enchanted City Hike'))!;
    expect(rowA).to.deep.equal({ id: `tour:${await knex('tours').where({ id: a.tourId }).first('code').then((r) => r.code)}`, title: 'Hanging Houses Walk', description: `${city} · 2 h · from €45.00` });
    expect(rowB.title).to.equal('Enchanted City Hike and…').and.to.have.length(24);
    // The list's body leaves out the numbered lines its rows show; the stored message keeps them (web chat and whatsapp-web.js show those).
    expect(list.text).to.equal([`Our tours in ${city}:`, 'Pick one (or write its number) and I will tell you its dates.'].join('\n'));
    const stored = await knex('conversation_messages').where({ conversation_id: (await conversationOf(from)).id, direction: 'out' }).orderBy('created_at', 'desc').first('text');
    expect(stored.text).to.equal([`Our tours in ${city}:`, ...list.rows.map((r, i) => `${i + 1}. ${r.id === rowA.id ? 'Hanging Houses Walk' : 'Enchanted City Hike and Picnic Lunch'} (${city}) — 2 h, from ${r.id === rowA.id ? '€45.00' : '€60.00'}`),
      'Pick one (or write its number) and I will tell you its dates.'].join('\n'));

    // A row picked (interactive: its title and id): the departures of that tour, as a LIST of `dep:<id>`.
    const deps = await say(from, rowA.title, { kind: 'interactive', replyId: rowA.id });
    expect(deps.kind).to.equal('list');
    if (deps.kind !== 'list') return;
    expect(deps.button).to.equal('See dates');
    expect(deps.rows.map((r) => r.id)).to.deep.equal([`dep:${a.departureId}`]);
    const when = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Madrid', weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hour12: false }).format(a.departureAt);
    expect(deps.rows[0]).to.deep.equal({ id: `dep:${a.departureId}`, title: when, description: '8 seats left · from €45.00' });
    expect(deps.text).to.equal(`Departures of Hanging Houses Walk (${city}):\nPick a departure (or write its number) to book.`);

    // Typed "1" picks the first departure; the party size is asked.
    const party = await say(from, '1');
    expect(party).to.deep.equal({ kind: 'text', text: `Hanging Houses Walk, ${when}: how many of you are travelling? Write the number.` });
    // Words are a party size too; no email on file: asked.
    const askEmail = await say(from, 'we are three');
    expect(askEmail).to.deep.equal({ kind: 'text', text: 'Which email should we send the booking confirmation to?' });
    expect(await seats(a.departureId)).to.deep.equal({ held: 0, sold: 0 });

    const held = await say(from, `it's lucia.${tag}@example.com`);
    expect(held.kind).to.equal('text');
    const text = (held as { text: string }).text;
    const conversation = await conversationOf(from);
    const booking = await knex('bookings').where({ customer_id: conversation.customer_id }).first();
    expect(booking, text).to.not.equal(undefined);
    expect(booking).to.deep.include({ status: 'held', departure_id: a.departureId, pax_count: 3, total_minor: 13500, currency: 'EUR', payment_plan: 'full', language: 'en' });
    expect(booking.contact).to.deep.equal({ name: 'Lucía Fernández', email: `lucia.${tag}@example.com`, phone: from });
    expect(await knex('passengers').where({ booking_id: booking.id }).orderBy('id').select('first_name', 'last_name', 'pax_type').then((r) => r.map((p) => `${p.first_name} ${p.last_name} ${p.pax_type}`).sort()))
      .to.deep.equal(['Guest 2 adult', 'Guest 3 adult', 'Lucía Fernández adult']);
    expect(await seats(a.departureId)).to.deep.equal({ held: 3, sold: 0 });
    const customer = await knex('customers').where({ id: conversation.customer_id }).first();
    expect(customer).to.deep.include({ phone: from, first_name: 'Lucía', last_name: 'Fernández', email: `lucia.${tag}@example.com`, language: 'en' });
    expect(await knex('conversation_bookings').where({ conversation_id: conversation.id }).select('booking_id', 'role')).to.deep.equal([{ booking_id: booking.id, role: 'booked' }]);
    expect(conversation.flow).to.equal(null);
    const until = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Madrid', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hour12: false }).format(new Date(booking.hold_expires_at));
    expect(text).to.match(new RegExp(`^Done! I'm holding 3 seats on Hanging Houses Walk, ${when}\\. Booking ${booking.reference}: total €135\\.00\\.\\nThe seats are held until ${until}; pay here to confirm it: https?://\\S+/pay/booking/\\S+$`));

    // A crash after the hold was committed but before the tool's answer was recorded: the retried
    // call (same step key) finds the message decided and holds nothing more.
    const emailMessage = await knex('conversation_messages').where({ conversation_id: conversation.id, direction: 'in' }).orderBy('created_at', 'desc').first();
    const recorded = await knex('agent_tool_outcomes').where({ run_id: emailMessage.agent_run_id, tool: 'conversations.route' }).first();
    expect(recorded.outcome.action).to.deep.equal({ kind: 'hold', placed: true, bookingId: booking.id, reference: booking.reference });
    await knex('agent_tool_outcomes').where({ step_key: recorded.step_key }).del();
    const retried = await conversationRoute.run({
      knex, runId: emailMessage.agent_run_id, agent: 'MultiChannelHub', stepKey: recorded.step_key, actor: 'agent:MultiChannelHub',
      temporal: async () => stack().temporal, publicUrl: config.publicUrl, now: () => new Date(),
    }, conversationRoute.input.parse({
      conversationId: conversation.id, messageId: emailMessage.id, language: 'en', intent: 'other', confidence: 0.4, entities: { dates: null, partySize: null, destination: null },
      route: 'book', status: 'bot', reply: 'x', action: { kind: 'hold', departureId: a.departureId, partySize: 3, email: `lucia.${tag}@example.com`, tourTitle: 'Hanging Houses Walk', startsAt: a.departureAt.toISOString(), timezone: 'Europe/Madrid' },
    }));
    expect(retried).to.deep.equal({ conversationId: conversation.id, messageId: emailMessage.id, route: 'book', status: 'bot', replyId: recorded.outcome.replyId });
    expect(await knex('bookings').where({ customer_id: conversation.customer_id })).to.have.length(1);
    expect(await seats(a.departureId)).to.deep.equal({ held: 3, sold: 0 });

    // The link opens the payment page: the amount due and the sandbox's test methods.
    const { path, page } = await openLink(text);
    expect(page.status).to.equal(200);
    expect(page.headers.get('content-type')).to.match(/^text\/html/);
    expect(page.body).to.include(booking.reference).and.to.include('Amount due: <strong>€135.00</strong>').and.to.include('value="pm_card_visa"');
    // A forged or altered link opens nothing.
    expect((await api('GET', `${path.slice(0, -3)}abc`)).status).to.equal(404);

    // The 3-D Secure test card goes on to the sandbox's hosted page (the provider's actionUrl), not followed here.
    const attempt = /name="attempt" value="([0-9a-f-]{36})"/.exec(page.body)![1];
    const secure = await fetch(`${stack().baseUrl}${path}`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `method=pm_card_authenticationRequired&attempt=${attempt}` });
    expect(secure.status).to.equal(303);
    const sandboxPage = new URL(secure.headers.get('location')!).pathname;
    expect(sandboxPage).to.match(/^\/pay\/sandbox\/sbx_/);
    // The customer leaves it (declines the check): the hold stays and the link pays by card afterwards.
    const declined = await api('POST', sandboxPage, { raw: 'outcome=fail', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(declined.body).to.include('The payment was declined.');
    await eventually(async () => knex('booking_events').where({ booking_id: booking.id, type: 'payment_declined' }).first(), 30_000);
    expect((await api('GET', path)).body).to.include('Amount due: <strong>€135.00</strong>');

    const paid = await payOnPage(path, (await api('GET', path)).body);
    expect(paid.status, paid.body).to.equal(200);
    expect(paid.body).to.include('Thank you: your payment of €135.00 is confirmed.');
    await eventually(async () => (await knex('bookings').where({ id: booking.id }).first('status')).status === 'paid_in_full', 30_000);
    expect(await seats(a.departureId)).to.deep.equal({ held: 0, sold: 3 });
    const payments = await knex('payments').where({ booking_id: booking.id }).orderBy('created_at').select('provider', 'status', 'amount_minor');
    expect(payments).to.have.length(2);
    expect(payments[1]).to.deep.equal({ provider: 'sandbox', status: 'captured', amount_minor: 13500 });
    expect(payments[0].status).to.not.equal('captured');
    // The same page again: nothing left to pay.
    expect((await api('GET', path)).body).to.include('There is nothing to pay on this booking now.');
  });

  it('Spanish: pay the balance by its link, then cancel with the refund shown first and made by the booking workflow', async () => {
    const { knex } = stack();
    const s = await tourIn(`Segovia${tag}`, { en: 'Aqueduct and Alcazar', es: 'Acueducto y Alcázar' }, { daysAhead: 60, capacity: 10, adultMinor: 10000 });
    const from = number();
    names.set(from, 'Marta');
    // A deposit booking made in chat: 30% now, the balance later.
    await say(from, `Hola, ¿qué tours tenéis en Segovia${tag}?`);
    await say(from, '1');
    await say(from, '1');
    await say(from, '2');
    const held = await say(from, `marta.${tag}@example.com`);
    const heldText = (held as { text: string }).text;
    expect(heldText).to.match(/^¡Hecho! Te guardo 2 plazas en Acueducto y Alcázar, .*\. Reserva ST-[A-Z0-9]{8}: total 200,00 €, ahora pagas 60,00 € de señal\.\nLas plazas quedan reservadas hasta el .*; paga aquí para confirmarla: https?:\/\/\S+$/);
    const conversation = await conversationOf(from);
    const booking = await knex('bookings').where({ customer_id: conversation.customer_id }).first();
    expect(booking).to.deep.include({ status: 'held', payment_plan: 'deposit', deposit_minor: 6000, total_minor: 20000, language: 'es' });
    expect(booking.contact.name).to.equal('Marta');
    const deposit = await openLink(heldText);
    expect(deposit.page.body).to.include('Señal a pagar ahora: <strong>60,00');
    expect((await payOnPage(deposit.path, deposit.page.body)).status).to.equal(200);
    await eventually(async () => (await knex('bookings').where({ id: booking.id }).first('status')).status === 'confirmed', 30_000);

    // Pay the balance: one booking owes, so its link comes at once.
    const balance = await say(from, 'quiero pagar el saldo');
    expect(balance.kind).to.equal('text');
    const balanceText = (balance as { text: string }).text;
    expect(balanceText).to.match(new RegExp(`^Para pagar 140,00 € de tu reserva ${booking.reference}, usa este enlace: https?://\\S+/pay/booking/\\S+$`));
    const page = await openLink(balanceText);
    expect(page.page.body).to.include('Saldo pendiente: <strong>140,00');
    expect((await payOnPage(page.path, page.page.body)).status).to.equal(200);
    await eventually(async () => (await knex('bookings').where({ id: booking.id }).first('status')).status === 'paid_in_full', 30_000);

    // My bookings: the list.
    const mine = await say(from, 'mis reservas');
    expect(mine.kind).to.equal('text');
    expect((mine as { text: string }).text).to.match(new RegExp(`^Tus reservas:\\n1\\. ${booking.reference} — Acueducto y Alcázar, .* — pagada$`));

    // Cancel: the refund the policy gives now (60 days ahead: 100% of the 200,00 € paid; 200 € needs no manager), with buttons.
    const quote = await say(from, 'quiero cancelar mi reserva');
    expect(quote.kind).to.equal('buttons');
    if (quote.kind !== 'buttons') return;
    expect(quote.buttons).to.deep.equal([{ id: 'yes', title: 'Sí, cancelar' }, { id: 'no', title: 'No, mantener' }]);
    expect(quote.text).to.match(new RegExp(`^Si cancelas ahora ${booking.reference} \\(Acueducto y Alcázar, .*\\), nuestra política te devuelve el 100 % de lo pagado: 200,00 € de 200,00 €\\.\\n¿Confirmas la cancelación\\?$`));
    expect(await knex('refunds').where({ booking_id: booking.id })).to.have.length(0);
    expect((await knex('bookings').where({ id: booking.id }).first('status')).status).to.equal('paid_in_full');

    const done = await say(from, 'Sí, cancelar', { kind: 'interactive', replyId: 'yes' });
    expect(done).to.deep.equal({ kind: 'text', text: `Tu reserva ${booking.reference} está cancelada. Te devolvemos 200,00 € al mismo medio de pago. Te lo confirmamos también por correo.` });
    expect((await knex('bookings').where({ id: booking.id }).first('status')).status).to.equal('cancelled');
    const refunds = await knex('refunds').where({ booking_id: booking.id }).select('amount_minor', 'status');
    expect(refunds.reduce((sum, r) => sum + Number(r.amount_minor), 0)).to.equal(20000);
    expect(await seats(s.departureId)).to.deep.equal({ held: 0, sold: 0 });
    expect(await knex('conversation_bookings').where({ conversation_id: conversation.id }).orderBy('role').pluck('role')).to.deep.equal(['booked', 'cancelled', 'viewed']);
    // The cancellation went through the booking workflow: its timeline says so.
    expect(await knex('booking_events').where({ booking_id: booking.id }).pluck('type')).to.include('cancelled');
  });

  it('several bookings owing: a LIST of pay:<id>; a sticker gets a polite answer and the list still answers to its numbers; "no" keeps a booking', async () => {
    const { knex } = stack();
    const s = await tourIn(`Ronda${tag}`, { en: 'Puente Nuevo Gorge', es: 'Tajo del Puente Nuevo' }, { daysAhead: 70, capacity: 10, adultMinor: 5000 });
    const second = await knex('departures').insert({ tour_id: s.tourId, starts_at: new Date(Date.now() + 80 * 86_400_000), timezone: 'Europe/Madrid', capacity: 10 }).returning('id').then((r) => r[0].id);
    const from = number();
    for (const [pick, pax] of [['1', '1'], ['2', '2']]) {
      await say(from, `Any availability in Ronda${tag}?`);
      await say(from, pick);
      await say(from, pax);
      if (pick === '1') await say(from, `sam.${tag}@example.com`);
    }
    const conversation = await conversationOf(from);
    const bookings = await knex('bookings as b').join('departures as d', 'd.id', 'b.departure_id').where('b.customer_id', conversation.customer_id).orderBy('d.starts_at').select('b.*');
    expect(bookings.map((b) => [b.departure_id, b.pax_count, b.status])).to.deep.equal([[s.departureId, 1, 'held'], [second, 2, 'held']]);

    const which = await say(from, 'I want to pay my balance');
    expect(which.kind).to.equal('list');
    if (which.kind !== 'list') return;
    expect(which.rows.map((r) => [r.id, r.title])).to.deep.equal(bookings.map((b) => [`pay:${b.id}`, b.reference]));
    expect(which.rows[0].description).to.match(/^Puente Nuevo Gorge · .* · €15\.00$/);
    expect(which.text.split('\n')[0]).to.equal('Which booking would you like to pay?');

    // A sticker: a polite answer that says what the bot can do; the conversation goes on.
    const sticker = await say(from, '[sticker]', { kind: 'unsupported', type: 'sticker' });
    expect(sticker).to.deep.equal({ kind: 'text', text: 'Sorry, I can\'t see stickers; I only read text. I can show you tours, check dates and seats, book, look up or pay your bookings, cancel, or pass you to a person (write "person").' });
    expect((await conversationOf(from)).status).to.equal('bot');

    const link = await say(from, '2');
    expect((link as { text: string }).text).to.match(new RegExp(`^To pay €30\\.00 on your booking ${bookings[1].reference}, use this link: https?://\\S+/pay/booking/\\S+$`));

    // With PayPal enabled, the page sends the customer to PayPal's approval page (the provider's actionUrl); back from it, the booking is confirmed.
    const page = await openLink((link as { text: string }).text);
    expect(page.page.body).to.include('value="paypal"');
    const attempt = /name="attempt" value="([0-9a-f-]{36})"/.exec(page.page.body)![1];
    const toPayPal = await fetch(`${stack().baseUrl}${page.path}`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `method=paypal&attempt=${attempt}` });
    expect(toPayPal.status).to.equal(303);
    const approveUrl = new URL(toPayPal.headers.get('location')!);
    expect(`${approveUrl.origin}${approveUrl.pathname}`).to.equal(`${stack().paypal.url}/checkoutnow`);
    stack().paypal.approve(approveUrl.searchParams.get('token')!);
    expect((await api('GET', `/pay/return/${bookings[1].id}`)).status).to.equal(200);
    await eventually(async () => (await knex('bookings').where({ id: bookings[1].id }).first('status')).status === 'confirmed', 30_000);
    expect(await knex('payments').where({ booking_id: bookings[1].id, status: 'captured' }).select('provider', 'amount_minor')).to.deep.equal([{ provider: 'paypal', amount_minor: 3000 }]);

    // Cancel: several bookings → a list; the title typed picks; "no" keeps it.
    const cxl = await say(from, 'cancel my booking please');
    expect(cxl.kind).to.equal('list');
    const quote = await say(from, bookings[0].reference);
    expect(quote.kind).to.equal('buttons');
    expect((quote as { text: string }).text).to.match(/^If you cancel .* now, there is nothing to refund \(nothing has been paid yet\) and the seats are released\./);
    const kept = await say(from, 'no');
    expect(kept).to.deep.equal({ kind: 'text', text: 'All right, your booking stays as it is.' });
    expect((await knex('bookings').where({ id: bookings[0].id }).first('status')).status).to.equal('held');
  });

  it('a refused hold (more people than the tour takes) is a polite answer, not a failed run; gibberish gets the help text', async () => {
    const { knex } = stack();
    const s = await tourIn(`Avila${tag}`, { en: 'Walls of Avila', es: 'Murallas de Ávila' }, { daysAhead: 9, capacity: 2, adultMinor: 3000 });
    const from = number();
    const { rows: [{ id: customerId }] } = await knex.raw(`insert into customers (first_name, last_name, email, phone, language) values ('Pablo', 'Ruiz', ?, ?, 'es') returning id`, [`pablo.${tag}@example.com`, from]);
    // The tour takes one person per booking: only the hold itself knows (the catalog the hub reads does not say).
    await knex('tours').where({ id: s.tourId }).update({ max_pax: 1 });
    const list = await say(from, `¿Hay plazas para Avila${tag}? Somos 2`);
    expect(list.kind).to.equal('list');
    const refused = await say(from, '1');
    expect(refused).to.deep.equal({ kind: 'text', text: 'Lo siento, no he podido reservar: sois más personas de las que admite este tour por reserva. Dime el tour o escribe «tours» para ver otras fechas, o «persona» si prefieres que te ayude alguien del equipo.' });
    const conversation = await conversationOf(from);
    expect(conversation).to.deep.include({ customer_id: customerId, status: 'bot', flow: null });
    expect(await knex('bookings').where({ customer_id: customerId })).to.have.length(0);
    const pick = await knex('conversation_messages').where({ conversation_id: conversation.id, direction: 'in', text: '1' }).first('agent_run_id', 'routed_to');
    expect(pick.routed_to).to.equal('book');
    const run = await eventually(async () => { const r = await knex('agent_runs').where({ id: pick.agent_run_id }).first('status', 'output'); return r?.status === 'completed' && r; });
    expect(run.output).to.deep.include({ action: 'hold', route: 'book' });

    const help = await say(from, 'asdf qwer');
    // Not understood: what the bot can do, with three buttons so the customer always has a way on.
    expect(help).to.deep.equal({
      kind: 'buttons', text: 'Hola, soy el asistente de Spirit Tours. Puedo enseñarte tours, ver fechas y plazas, ayudarte a reservar, consultar o pagar tus reservas, cancelar, o pasarte con una persona. ¿Qué necesitas?',
      buttons: [{ id: 'menu:browse', title: 'Ver tours' }, { id: 'menu:bookings', title: 'Mis reservas' }, { id: 'menu:human', title: 'Hablar con alguien' }],
    });
    // "1" picks the first button: the tours.
    const tours = await say(from, '1');
    expect(tours.kind).to.equal('list');
  });
  it('a late cancellation: the quote says a manager approves the refund; confirmed, the workflow waits for that approval and says so', async () => {
    const { knex } = stack();
    // 2.5 days ahead: the 2–6 days tier (50%), and within 3 days of departure a refund needs a manager.
    const s = await tourIn(`Toro${tag}`, { en: 'Toro Wine Cellars', es: 'Bodegas de Toro' }, { daysAhead: 2.5, capacity: 6, adultMinor: 8000 });
    const from = number();
    names.set(from, 'Sam Taylor');
    await knex('customers').insert({ first_name: 'Sam', last_name: 'Taylor', email: `sam.taylor.${tag}@example.com`, phone: from, language: 'en' });
    await say(from, `Any availability in Toro${tag}? We are 2`);
    const held = (await say(from, '1') as { text: string }).text;
    const conversation = await conversationOf(from);
    const booking = await knex('bookings').where({ customer_id: conversation.customer_id }).first();
    expect(booking).to.deep.include({ status: 'held', pax_count: 2, total_minor: 16000 });
    expect(booking.contact.email).to.equal(`sam.taylor.${tag}@example.com`);
    const link = await openLink(held);
    expect((await payOnPage(link.path, link.page.body)).status).to.equal(200);
    await eventually(async () => (await knex('bookings').where({ id: booking.id }).first('status')).status === 'paid_in_full', 30_000);

    const quote = await say(from, 'I need to cancel');
    expect(quote.kind).to.equal('buttons');
    expect((quote as { text: string }).text.split('\n').slice(0, 3)).to.deep.equal([
      `If you cancel ${booking.reference} (Toro Wine Cellars, ${new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Madrid', weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hour12: false }).format(s.departureAt)}) now, our policy refunds 50% of what you paid: €80.00 of €160.00.`,
      'A manager approves refunds like this one before they are made.',
      'Do you confirm the cancellation?',
    ]);
    // Typed, not tapped: "yes".
    const asked = await say(from, 'yes');
    expect(asked).to.deep.equal({ kind: 'text', text: `I have asked to cancel ${booking.reference}. The refund of €80.00 waits for a manager's approval; we will let you know as soon as it is decided.` });
    const approval = await knex('approvals').where({ booking_id: booking.id, status: 'pending' }).first('amount_minor', 'kind');
    expect(approval).to.deep.equal({ amount_minor: 8000, kind: 'refund' });
    expect((await knex('bookings').where({ id: booking.id }).first('status')).status).to.equal('paid_in_full');
    expect(await knex('refunds').where({ booking_id: booking.id })).to.have.length(0);
    // A cancellation already pending: nothing more to cancel here.
    expect(await say(from, 'cancel my booking')).to.deep.equal({ kind: 'text', text: 'You have no bookings that can be cancelled here. Write "person" if you need help.' });
  });
});
