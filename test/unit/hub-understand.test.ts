/**
 * MultiChannelHub's understanding and decision, pure: understand() on examples with exact
 * expectations, its accuracy on the labelled sets (the tuning set and a held-out set written
 * before the rules and never tuned on), and decide()'s routes and replies on a fixed catalog.
 */
import { expect } from 'chai';
import { understand } from '../../agents/multi-channel-hub/understand';
import { decide, HUMAN_BELOW, type HubContext, type Offer } from '../../agents/multi-channel-hub/core';
import { catalogDestinations } from '../../agents/multi-channel-hub/destinations';
import { demoDestinations, evaluate } from '../support/hub-eval';

const now = new Date('2026-12-02T10:00:00Z'); // a Wednesday
const destinations = demoDestinations();
const u = (text: string, extra: Partial<Parameters<typeof understand>[1]> = {}) => {
  const { scores: _scores, ...rest } = understand(text, { now, destinations, ...extra });
  return rest;
};

describe('MultiChannelHub understand()', () => {
  it('availability in Spanish: weekday, party and a city of the catalog', () => {
    expect(u('Hola, ¿quedan plazas para Toledo el viernes para 4 personas?')).to.deep.equal({
      language: 'es', intent: 'availability', confidence: 0.96,
      entities: { dates: { from: '2026-12-04', to: '2026-12-04', text: 'viernes' }, partySize: 4, destination: { name: 'Toledo', kind: 'city', tourCodes: ['MAD-TOLEDO'] } },
    });
  });

  it('book in English: a tour by a word of its title, adults and children added, a month and day', () => {
    expect(u("I'd like to book the desert safari for 2 adults and 1 child on March 15")).to.deep.equal({
      language: 'en', intent: 'book', confidence: 0.7,
      entities: { dates: { from: '2027-03-15', to: '2027-03-15', text: 'march 15' }, partySize: 3, destination: { name: 'Dubai', kind: 'tour', tourCodes: ['DXB-DESERT'] } },
    });
  });

  it('relative and absolute dates in both languages', () => {
    const dates = (text: string, lang?: 'es' | 'en') => understand(text, { now, destinations, fallbackLanguage: lang }).entities.dates;
    expect(dates('¿hay sitio mañana?')).to.include({ from: '2026-12-03', to: '2026-12-03' });
    expect(dates('pasado mañana')).to.include({ from: '2026-12-04', to: '2026-12-04' });
    expect(dates('next friday')).to.include({ from: '2026-12-04', to: '2026-12-04' });
    expect(dates('el viernes de la semana que viene')).to.include({ from: '2026-12-11', to: '2026-12-11' });
    expect(dates('el 15 de marzo')).to.include({ from: '2027-03-15', to: '2027-03-15' });
    expect(dates('15 de marzo de 2028')).to.include({ from: '2028-03-15', to: '2028-03-15' });
    expect(dates('del 10 al 12 de diciembre')).to.include({ from: '2026-12-10', to: '2026-12-12' });
    expect(dates('this weekend')).to.include({ from: '2026-12-05', to: '2026-12-06' });
    expect(dates('la semana que viene')).to.include({ from: '2026-12-07', to: '2026-12-13' });
    expect(dates('en enero')).to.include({ from: '2027-01-01', to: '2027-01-31' });
    expect(dates('in 3 days')).to.include({ from: '2026-12-05', to: '2026-12-05' });
    expect(dates('on 12/19', 'en')).to.include({ from: '2026-12-19', to: '2026-12-19' });
    expect(dates('el 20/12', 'es')).to.include({ from: '2026-12-20', to: '2026-12-20' });
    expect(dates('2027-01-10')).to.include({ from: '2027-01-10', to: '2027-01-10' });
    expect(dates('the 28th')).to.include({ from: '2026-12-28', to: '2026-12-28' });
    expect(dates('hola')).to.equal(null);
  });

  it('"mañana" is tomorrow in the customer\'s time zone', () => {
    const late = new Date('2026-12-02T23:30:00Z'); // already the 3rd in Madrid
    expect(understand('mañana', { now: late, destinations, timeZone: 'Europe/Madrid' }).entities.dates).to.include({ from: '2026-12-04' });
    expect(understand('mañana', { now: late, destinations }).entities.dates).to.include({ from: '2026-12-03' });
  });

  it('party sizes said in words, by companions, or alone; a date is not a party', () => {
    const party = (text: string) => understand(text, { now, destinations }).entities.partySize;
    expect(party('somos cinco')).to.equal(5);
    expect(party('mi pareja y yo')).to.equal(2);
    expect(party('family of four')).to.equal(4);
    expect(party('just me')).to.equal(1);
    expect(party('2 adultos y 2 niños')).to.equal(4);
    expect(party('in 3 days')).to.equal(null);
    expect(party('¿Qué me recomiendan para una familia?')).to.equal(null);
    expect(party('quiero hablar con una persona')).to.equal(null);
  });

  it('a person, a cancellation, a balance; small talk and gibberish are "other"', () => {
    expect(u('Quiero hablar con una persona')).to.deep.include({ language: 'es', intent: 'human', confidence: 1 });
    expect(u('persona')).to.deep.include({ intent: 'human' });
    expect(u('I need to cancel my booking')).to.deep.include({ language: 'en', intent: 'cancel' });
    expect(u('Quiero pagar el saldo de mi reserva')).to.deep.include({ language: 'es', intent: 'pay_balance' });
    expect(u('hola')).to.deep.include({ language: 'es', intent: 'other', confidence: 0.9 });
    expect(u('lkjdsf')).to.deep.include({ language: 'en', intent: 'other', confidence: 0.4 });
    expect(u('ok', { fallbackLanguage: 'es' }).language).to.equal('es');
  });

  // Measured with `npx tsx test/support/hub-eval.ts hub-messages.json hub-messages-heldout.json`
  // (tuning set 129 messages: everything 1.0; held-out 36: intent 0.972, the rest 1.0). The floors are a
  // little under what was measured, so a change that loses accuracy fails here.
  it('asking to see the catalog in a few words is browsing (a new user\'s first messages), and the accuracy sets below still hold', () => {
    for (const text of ['quiero ver tours', 'ver tours', 'tours', 'excursiones por favor', 'see tours', 'show me your trips', 'the tours?', 'Ver tours']) {
      expect(understand(text, { now, destinations }).intent, text).to.equal('browse');
    }
    // A word of the catalog inside another question stays with that question.
    expect(understand('cancel my tour booking', { now, destinations }).intent).to.equal('cancel');
  });

  it('accuracy on the tuning set (129 messages)', () => {
    const s = evaluate('hub-messages.json');
    expect(s.n).to.be.at.least(100);
    expect(s.intent, s.misses.join('\n')).to.be.at.least(0.97);
    expect(s.language).to.be.at.least(0.97);
    expect(s.allEntities, s.misses.join('\n')).to.be.at.least(0.97);
  });

  it('accuracy on the held-out set (36 messages never tuned on)', () => {
    const s = evaluate('hub-messages-heldout.json');
    expect(s.n).to.be.at.least(30);
    expect(s.intent, s.misses.join('\n')).to.be.at.least(0.94);
    expect(s.language).to.be.at.least(0.97);
    expect(s.allEntities, s.misses.join('\n')).to.be.at.least(0.94);
  });

  // Chat style (typos, no accents, "tmrw", "tix", emoji), written after the rules and never tuned on:
  // measured intent 0.75, language 0.969, destination 1.0, party 0.906, dates 0.938, all entities 0.875.
  it('accuracy on the harder held-out set (32 chat-style messages never tuned on)', () => {
    const s = evaluate('hub-messages-heldout-hard.json');
    expect(s.n).to.be.at.least(30);
    expect(s.intent, s.misses.join('\n')).to.be.at.least(0.75);
    expect(s.language).to.be.at.least(0.95);
    expect(s.allEntities, s.misses.join('\n')).to.be.at.least(0.85);
  });
});

describe('MultiChannelHub decide()', () => {
  const tours = [
    { code: 'MAD-TOLEDO', city: 'Toledo', country: 'ES', title: { es: 'Excursión a Toledo', en: 'Toledo Day Trip' }, adultPriceMinor: 8900, currency: 'EUR', durationMinutes: 480 },
    { code: 'MAD-PRADO', city: 'Madrid', country: 'ES', title: { es: 'Obras Maestras del Prado', en: 'Prado Masterpieces' }, adultPriceMinor: 5900, currency: 'EUR', durationMinutes: 180 },
  ];
  const offer: Offer = {
    destinations: catalogDestinations(tours.map((t) => ({ code: t.code, city: t.city, country: t.country, titles: [t.title.es, t.title.en] }))),
    tours,
    departures: [
      { id: 'd1', tourCode: 'MAD-TOLEDO', startsAt: '2026-12-04T08:00:00.000Z', timezone: 'Europe/Madrid', seatsLeft: 1, adultPriceMinor: 8900, currency: 'EUR' },
      { id: 'd2', tourCode: 'MAD-TOLEDO', startsAt: '2026-12-07T08:00:00.000Z', timezone: 'Europe/Madrid', seatsLeft: 35, adultPriceMinor: 8900, currency: 'EUR' },
      { id: 'd3', tourCode: 'MAD-TOLEDO', startsAt: '2026-12-10T08:00:00.000Z', timezone: 'Europe/Madrid', seatsLeft: 20, adultPriceMinor: 9900, currency: 'EUR' },
    ],
  };
  const ctx = (c: Partial<HubContext['conversation']> = {}): HubContext => ({
    conversation: { id: 'c', status: 'bot', language: null, otherStreak: 0, customerKnown: false, ...c }, bookings: null, timeZone: 'UTC',
  });

  it('availability answers with the real departures that fit the party, in the customer\'s language', () => {
    const full = decide('¿Hay plazas para Toledo el viernes? Somos 2', ctx(), offer, now);
    expect(full).to.deep.include({ route: 'availability', status: 'bot', departureIds: ['d2', 'd3'] });
    expect(full.reply).to.equal('No hay salidas de Excursión a Toledo (Toledo) el vie, 4 dic para 2 personas.\nLas próximas:\n'
      + '1. lun, 7 dic, 09:00 — quedan 35 plazas, desde 89,00 €\n2. jue, 10 dic, 09:00 — quedan 20 plazas, desde 99,00 €\nElige una salida (o escribe su número) para reservar.');
    const week = decide('Any seats on the Toledo trip next week for 4?', ctx(), offer, now);
    expect(week.reply).to.equal('Departures of Toledo Day Trip (Toledo) from Mon 7 Dec to Sun 13 Dec for 4 people:\n'
      + '1. Mon 7 Dec, 09:00 — 35 seats left, from €89.00\n2. Thu 10 Dec, 09:00 — 20 seats left, from €99.00\nPick a departure (or write its number) to book.');
    // No place named: the tours to pick from (numbered; a list on WhatsApp).
    expect(decide('¿hay disponibilidad?', ctx(), offer, now).reply).to.equal('¿Qué tour te interesa?\n1. Excursión a Toledo (Toledo) — 8 h, desde 89,00 €\n'
      + '2. Obras Maestras del Prado (Madrid) — 3 h, desde 59,00 €\nElige uno (o escribe su número) y te digo las fechas.');
  });

  it('browse lists the tours of the place with prices', () => {
    expect(decide('What tours do you have in Spain?', ctx(), offer, now).reply).to.equal(
      'Our tours in Spain:\n1. Toledo Day Trip (Toledo) — 8 h, from €89.00\n2. Prado Masterpieces (Madrid) — 3 h, from €59.00\nPick one (or write its number) and I will tell you its dates.');
  });

  it('cancel shows the refund policy first', () => {
    const r = decide('Cancel my booking', ctx(), offer, now);
    expect(r.route).to.equal('cancel');
    expect(r.reply).to.match(/^Before you cancel, this is our refund policy by days before departure: 30 days or more: 100%; 14–29 days: 90%; 7–13 days: 75%; 2–6 days: 50%; 0–1 days: 0%\./);
  });

  it('routes to a person: asked for, a second message not understood, or unsure of the intent', () => {
    expect(decide('quiero hablar con una persona', ctx(), offer, now)).to.deep.include({
      route: 'human', status: 'waiting_human', reply: 'Te paso con una persona de nuestro equipo; te responderá aquí en breve.',
    });
    expect(decide('asdfgh', ctx(), offer, now)).to.deep.include({ route: 'other', status: 'bot' });
    expect(decide('asdfgh', ctx({ otherStreak: 1 }), offer, now)).to.deep.include({ route: 'human', status: 'waiting_human', why: 'a second message in a row not understood' });
    // Paying and seats tie at a low score: too unsure to answer.
    const unsure = decide('pay for spots', ctx(), offer, now);
    expect(unsure.understanding.confidence).to.be.below(HUMAN_BELOW);
    expect(unsure).to.deep.include({ route: 'human', status: 'waiting_human' });
  });

  it('stays quiet while a person has the conversation, but still records what it understood', () => {
    const r = decide('¿hay plazas para Toledo mañana?', ctx({ status: 'with_human' }), offer, now);
    expect(r).to.deep.include({ route: 'human', status: 'with_human', reply: null });
    expect(r.understanding.intent).to.equal('availability');
  });
});
