/**
 * MultiChannelHub's flow machine (agents/multi-channel-hub/flows.ts through core.ts decide()),
 * pure: picks by interactive id, by number and by title; Meta's limits on lists and buttons;
 * party size, email and yes/no steps; unsupported messages keep the flow; a second message that
 * answers nothing goes to a person; bookings owed and cancellable; the actions it asks for.
 */
import { expect } from 'chai';
import { decide, type HubBooking, type HubContext, type Offer } from '../../agents/multi-channel-hub/core';
import { bareNumber, chosenOption, emailIn, type FlowState } from '../../agents/multi-channel-hub/flows';
import { catalogDestinations } from '../../agents/multi-channel-hub/destinations';

const now = new Date('2026-12-01T10:00:00Z');
const tours = [
  { code: 'MAD-TOLEDO', city: 'Toledo', country: 'ES', title: { es: 'Excursión a Toledo', en: 'Toledo Day Trip' }, adultPriceMinor: 8900, currency: 'EUR', durationMinutes: 480 },
  { code: 'MAD-PRADO', city: 'Madrid', country: 'ES', title: { es: 'Obras Maestras del Museo del Prado', en: 'Prado Museum Masterpieces Guided' }, adultPriceMinor: 5900, currency: 'EUR', durationMinutes: 180 },
];
const offer: Offer = {
  destinations: catalogDestinations(tours.map((t) => ({ code: t.code, city: t.city, country: t.country, titles: [t.title.es, t.title.en] }))),
  tours,
  departures: [
    { id: '11111111-1111-4111-8111-111111111111', tourCode: 'MAD-TOLEDO', startsAt: '2026-12-07T08:00:00.000Z', timezone: 'Europe/Madrid', seatsLeft: 3, adultPriceMinor: 8900, currency: 'EUR' },
    { id: '22222222-2222-4222-8222-222222222222', tourCode: 'MAD-TOLEDO', startsAt: '2026-12-10T08:00:00.000Z', timezone: 'Europe/Madrid', seatsLeft: 20, adultPriceMinor: 9900, currency: 'EUR' },
  ],
};
const booking = (over: Partial<HubBooking> = {}): HubBooking => ({
  id: 'b0000000-0000-4000-8000-000000000001', reference: 'ST-AAAA1111', status: 'confirmed', tourTitle: { es: 'Excursión a Toledo', en: 'Toledo Day Trip' },
  startsAt: '2026-12-20T08:00:00.000Z', timezone: 'Europe/Madrid', totalMinor: 17800, balanceMinor: 12460, dueMinor: 12460, currency: 'EUR', balanceDueOn: null,
  payable: true, cancellable: true, refund: { paidMinor: 5340, refundMinor: 4806, refundBp: 9000, daysBefore: 18, needsApproval: false }, ...over,
});
const ctx = (over: Partial<HubContext> = {}, conversation: Partial<HubContext['conversation']> = {}): HubContext => ({
  conversation: { id: 'c', status: 'bot', language: 'en', otherStreak: 0, customerKnown: true, ...conversation }, bookings: [], timeZone: 'Europe/Madrid',
  customer: { email: 'ana@example.com', name: 'Ana' }, ...over,
});
const wa = (state: FlowState | null, extra: { kind?: 'text' | 'interactive' | 'unsupported'; replyId?: string; type?: string } = {}) => ({ channel: 'whatsapp' as const, state, ...extra });

describe('MultiChannelHub flows', () => {
  it('browse on WhatsApp: a list of tour rows within Meta\'s limits, the same options numbered in the text and kept in the flow', () => {
    const r = decide('What tours do you have in Spain?', ctx(), offer, now, wa(null));
    expect(r.interactive).to.deep.equal({ list: { button: 'See tours', rows: [
      { id: 'tour:MAD-TOLEDO', title: 'Toledo Day Trip', description: 'Toledo · 8 h · from €89.00' },
      { id: 'tour:MAD-PRADO', title: 'Prado Museum Masterpiec…', description: 'Madrid · 3 h · from €59.00' },
    ] } });
    expect(r.flow).to.deep.equal({ step: 'pick_tour', options: [{ id: 'tour:MAD-TOLEDO', title: 'Toledo Day Trip' }, { id: 'tour:MAD-PRADO', title: 'Prado Museum Masterpieces Guided' }] });
    // Web chat: the same numbered text, no interactive payload.
    expect(decide('What tours do you have in Spain?', ctx(), offer, now).interactive).to.equal(null);
  });

  it('picks: the interactive id, the number typed, the full title or the shortened one shown', () => {
    const state: FlowState = { step: 'pick_tour', options: [{ id: 'tour:MAD-TOLEDO', title: 'Toledo Day Trip' }, { id: 'tour:MAD-PRADO', title: 'Prado Museum Masterpieces Guided' }] };
    expect(chosenOption({ replyId: 'tour:MAD-PRADO', state }, 'whatever')?.id).to.equal('tour:MAD-PRADO');
    expect(chosenOption({ replyId: null, state }, '2')?.id).to.equal('tour:MAD-PRADO');
    expect(chosenOption({ replyId: null, state }, ' #1. ')?.id).to.equal('tour:MAD-TOLEDO');
    expect(chosenOption({ replyId: null, state }, '3')).to.equal(null);
    expect(chosenOption({ replyId: null, state }, 'toledo day trip')?.id).to.equal('tour:MAD-TOLEDO');
    expect(chosenOption({ replyId: null, state }, 'Prado Museum Masterpiec…')?.id).to.equal('tour:MAD-PRADO');
    expect(chosenOption({ replyId: null, state }, '2 people')).to.equal(null);
    // An id from an older list still means what it says; an unknown one means nothing.
    expect(chosenOption({ replyId: 'dep:abc', state: null }, 'x')?.id).to.equal('dep:abc');
    expect(chosenOption({ replyId: 'yes', state: null }, 'x')).to.equal(null);
    expect(bareNumber('dos')).to.equal(2);
    expect(bareNumber('2 personas')).to.equal(null);
    expect(emailIn('mi correo es Ana.Lopez+t@Example.COM gracias')).to.equal('ana.lopez+t@example.com');
  });

  it('a tour picked by number lists its departures; a departure picked asks the party; too many for the seats left asks again; then the hold', () => {
    const pickTour: FlowState = { step: 'pick_tour', options: [{ id: 'tour:MAD-TOLEDO', title: 'Toledo Day Trip' }] };
    const deps = decide('1', ctx(), offer, now, wa(pickTour));
    expect(deps.route).to.equal('availability');
    expect(deps.flow).to.deep.include({ step: 'pick_departure', tourCodes: ['MAD-TOLEDO'] });
    expect(deps.interactive).to.deep.equal({ list: { button: 'See dates', rows: [
      { id: 'dep:11111111-1111-4111-8111-111111111111', title: 'Mon 7 Dec, 09:00', description: '3 seats left · from €89.00' },
      { id: 'dep:22222222-2222-4222-8222-222222222222', title: 'Thu 10 Dec, 09:00', description: '20 seats left · from €99.00' },
    ] } });
    const party = decide('Mon 7 Dec, 09:00', ctx(), offer, now, wa(deps.flow!));
    expect(party).to.deep.include({ reply: 'Toledo Day Trip, Mon 7 Dec, 09:00: how many of you are travelling? Write the number.', action: null });
    expect(party.flow).to.deep.include({ step: 'party', departureId: '11111111-1111-4111-8111-111111111111' });
    const tooMany = decide('we are 5', ctx(), offer, now, wa(party.flow!));
    expect(tooMany.reply).to.equal('That departure has only 3 seats left. How many of you are travelling?');
    const hold = decide('3', ctx(), offer, now, wa(tooMany.flow!));
    expect(hold.action).to.deep.equal({ kind: 'hold', departureId: '11111111-1111-4111-8111-111111111111', partySize: 3, email: null, tourTitle: 'Toledo Day Trip', startsAt: '2026-12-07T08:00:00.000Z', timezone: 'Europe/Madrid' });
    // No email on file: asked, then the hold carries the one typed.
    const ask = decide('3', ctx({ customer: { email: null, name: null } }), offer, now, wa(tooMany.flow!));
    expect(ask.flow).to.deep.include({ step: 'email', partySize: 3 });
    const bad = decide('I do not have one', ctx({ customer: { email: null, name: null } }), offer, now, wa(ask.flow!));
    expect(bad.reply).to.match(/name@example\.com$/);
    const withEmail = decide('ana@example.org', ctx({ customer: { email: null, name: null } }), offer, now, wa(ask.flow!));
    expect(withEmail.action).to.deep.include({ kind: 'hold', email: 'ana@example.org' });
    // Not on a verified channel: no hold.
    expect(decide('3', ctx({ bookings: null }), offer, now, wa(party.flow!)).action).to.equal(null);
  });

  it('pay: one booking owing is its link at once; several are a list; none owing says so', () => {
    const one = decide('I want to pay my balance', ctx({ bookings: [booking()] }), offer, now, wa(null));
    expect(one.action).to.deep.equal({ kind: 'pay_link', bookingId: booking().id, reference: 'ST-AAAA1111' });
    const two = decide('I want to pay my balance', ctx({ bookings: [booking(), booking({ id: 'b0000000-0000-4000-8000-000000000002', reference: 'ST-BBBB2222', dueMinor: 3000 })] }), offer, now, wa(null));
    expect(two.action).to.equal(null);
    expect((two.interactive as { list: { rows: Array<{ id: string }> } }).list.rows.map((r) => r.id)).to.deep.equal(['pay:b0000000-0000-4000-8000-000000000001', 'pay:b0000000-0000-4000-8000-000000000002']);
    expect(decide('2', ctx({ bookings: [booking(), booking({ id: 'b0000000-0000-4000-8000-000000000002', reference: 'ST-BBBB2222' })] }), offer, now, wa(two.flow!)).action)
      .to.deep.equal({ kind: 'pay_link', bookingId: 'b0000000-0000-4000-8000-000000000002', reference: 'ST-BBBB2222' });
    expect(decide('I want to pay my balance', ctx({ bookings: [booking({ dueMinor: 0, balanceMinor: 0, status: 'paid_in_full', payable: false })] }), offer, now, wa(null)).reply)
      .to.equal('You have no balance to pay on your bookings.');
  });

  it('cancel: the refund now with Yes/No buttons; yes (typed or tapped) is the action, no keeps it', () => {
    const q = decide('quiero cancelar mi reserva', ctx({ bookings: [booking()] }, { language: 'es' }), offer, now, wa(null));
    expect(q.interactive).to.deep.equal({ buttons: [{ id: 'yes', title: 'Sí, cancelar' }, { id: 'no', title: 'No, mantener' }] });
    expect(q.reply!.split('\n')[0]).to.equal('Si cancelas ahora ST-AAAA1111 (Excursión a Toledo, dom, 20 dic, 09:00), nuestra política te devuelve el 90 % de lo pagado: 48,06 € de 53,40 €.');
    expect(q.action).to.equal(null);
    for (const [text, extra] of [['Sí, cancelar', { kind: 'interactive' as const, replyId: 'yes' }], ['si', {}], ['1', {}]] as const) {
      expect(decide(text, ctx({ bookings: [booking()] }, { language: 'es' }), offer, now, wa(q.flow!, extra)).action).to.deep.equal({ kind: 'cancel', bookingId: booking().id, reference: 'ST-AAAA1111' });
    }
    const no = decide('no', ctx({ bookings: [booking()] }, { language: 'es' }), offer, now, wa(q.flow!));
    expect(no).to.deep.include({ action: null, reply: 'De acuerdo, tu reserva sigue en pie.', flow: null });
  });

  it('an unsupported message keeps the flow and the streak; words that answer no step are asked again, twice go to a person', () => {
    const state: FlowState = { step: 'pick_tour', options: [{ id: 'tour:MAD-TOLEDO', title: 'Toledo Day Trip' }] };
    const img = decide('[image]', ctx({}, { otherStreak: 1 }), offer, now, wa(state, { kind: 'unsupported', type: 'image' }));
    expect(img).to.deep.include({ route: 'other', status: 'bot', flow: state, otherStreak: 1 });
    expect(img.reply).to.match(/^Sorry, I can't see images; I only read text\./);
    const again = decide('blorp', ctx(), offer, now, wa(state));
    expect(again).to.deep.include({ route: 'other', status: 'bot', flow: state, otherStreak: 1 });
    expect(again.reply).to.equal("I'm still on your booking. Which tour would you like?\n1. Toledo Day Trip\nPick one (or write its number) and I will tell you its dates.");
    expect(decide('blorp', ctx({}, { otherStreak: 1 }), offer, now, wa(state))).to.deep.include({ route: 'human', status: 'waiting_human', flow: null });
    expect(decide('ok thanks', ctx({}, { otherStreak: 1 }), offer, now, wa(state))).to.deep.include({ route: 'other', status: 'bot', flow: state, otherStreak: 0 });
    // Asking for a person in the middle of a flow: the human queue, the flow dropped.
    expect(decide('I want to talk to a person', ctx(), offer, now, wa(state))).to.deep.include({ route: 'human', status: 'waiting_human', flow: null });
    // Something else asked starts over.
    expect(decide('show me my bookings', ctx({ bookings: [booking()] }), offer, now, wa(state))).to.deep.include({ route: 'my_bookings', flow: null });
  });
});
