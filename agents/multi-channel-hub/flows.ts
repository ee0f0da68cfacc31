/**
 * MultiChannelHub's conversation flows, pure: from what a message says (understand.ts), the
 * interactive choice it carries (a list row or a button id), the conversation's flow state
 * (`conversations.flow`), the customer's bookings and the catalog, to the reply (text, and for
 * WhatsApp an interactive list or reply buttons), the next flow state and the action to take.
 *
 *   browse            → a LIST of tours (`tour:<code>`); a pick = that tour's departures
 *   availability/book → a LIST of departures (`dep:<id>`); a pick → party size (asked when not
 *                       known) → an email for the confirmation (asked when none is on file) →
 *                       ACTION hold (a real hold; the tool answers with the payment link)
 *   my bookings       → the list (verified channels only: a WhatsApp number)
 *   pay balance       → one booking owing: ACTION pay_link; several: a LIST (`pay:<id>`)
 *   cancel            → the booking (a LIST `cxl:<id>` when several), the refund the policy gives
 *                       now, BUTTONS yes/no; yes → ACTION cancel (the booking workflow's update)
 *
 * Every list is also written as numbered lines, so a typed "2" (or the option's title) picks
 * from the last options offered (kept in the flow state): free text and interactive replies both
 * work, on every channel (whatsapp-web.js and web chat show no interactive messages). Messages
 * the bot cannot read (images, stickers, locations) get a polite answer and keep the flow.
 * The texts of the actions' outcomes are here too (holdReply, payLinkReply, cancelReply): the
 * acting tool fills them with what the action did.
 */
import { currencyExponent } from '../../domain/booking-rules';
import { normalize, type Language, type Understanding } from './understand';
import type { HubBooking, HubContext, Offer, OfferDeparture, OfferTour, Route } from './core';

export const FLOW_STEPS = ['pick_tour', 'pick_departure', 'party', 'email', 'pick_pay', 'pick_cancel', 'confirm_cancel', 'menu'] as const;
export type FlowStep = (typeof FLOW_STEPS)[number];

/** One option offered: its id (as the interactive row/button), the full title, and the title as shown when shortened. */
export interface FlowOption { id: string; title: string }

/** What the conversation is in the middle of (`conversations.flow`). */
export interface FlowState {
  step: FlowStep;
  /** The options last offered, in order: "2" is the second. */
  options: FlowOption[];
  tourCodes?: string[];
  departureId?: string;
  partySize?: number;
  email?: string;
  bookingId?: string;
}

export type Interactive =
  | { list: { button: string; rows: Array<{ id: string; title: string; description?: string }> } }
  | { buttons: Array<{ id: string; title: string }> };

export type FlowAction =
  | { kind: 'hold'; departureId: string; partySize: number; email: string | null; tourTitle: string; startsAt: string; timezone: string }
  | { kind: 'pay_link'; bookingId: string; reference: string }
  | { kind: 'cancel'; bookingId: string; reference: string };

export interface Turn {
  kind: 'text' | 'interactive' | 'unsupported';
  /** The id of the list row or button chosen. */
  replyId: string | null;
  channel: 'web' | 'whatsapp' | 'email';
  state: FlowState | null;
}

export interface FlowOutcome {
  route: Route;
  why: string;
  reply: string;
  interactive: Interactive | null;
  /** The conversation's flow state after this message (null: nothing in progress). */
  flow: FlowState | null;
  action: FlowAction | null;
  departureIds: string[];
  /** Counts as a message not understood (two in a row go to a person). */
  notUnderstood: boolean;
}

// Meta's limits (integrations/whatsapp/types.ts WHATSAPP_LIMITS): rows of 24, buttons of 20, 10 rows.
const ROW_TITLE = 24;
const ROW_DESCRIPTION = 72;
const BUTTON_TITLE = 20;
const MAX_ROWS = 10;

const LOCALE: Record<Language, string> = { es: 'es-ES', en: 'en-GB' };

/** Intl formatters are costly to build (a large share of a turn's CPU when built per call): one per shape, reused. */
const formatters = new Map<string, Intl.DateTimeFormat | Intl.NumberFormat>();
function dateFormat(locale: string, options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const key = `d|${locale}|${JSON.stringify(options)}`;
  let f = formatters.get(key) as Intl.DateTimeFormat | undefined;
  if (!f) formatters.set(key, (f = new Intl.DateTimeFormat(locale, options)));
  return f;
}
function numberFormat(locale: string, options: Intl.NumberFormatOptions): Intl.NumberFormat {
  const key = `n|${locale}|${JSON.stringify(options)}`;
  let f = formatters.get(key) as Intl.NumberFormat | undefined;
  if (!f) formatters.set(key, (f = new Intl.NumberFormat(locale, options)));
  return f;
}

export function money(minor: number, currency: string, lang: Language): string {
  const exp = currencyExponent(currency);
  // Plain spaces: Intl puts no-break spaces before the symbol, which chat clients show oddly.
  return numberFormat(LOCALE[lang], { style: 'currency', currency, minimumFractionDigits: exp, maximumFractionDigits: exp }).format(minor / 10 ** exp).replace(/[\u00a0\u202f]/g, ' ');
}

export function when(iso: string, timeZone: string, lang: Language): string {
  return dateFormat(LOCALE[lang], { timeZone, weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hour12: false }).format(new Date(iso));
}

function clock(iso: string, timeZone: string, lang: Language): string {
  return dateFormat(LOCALE[lang], { timeZone, day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hour12: false }).format(new Date(iso));
}

/** The local calendar day of an instant in a time zone. */
export function localDay(iso: string, timeZone: string): string {
  return dateFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(iso));
}

function dayText(ymd: string, lang: Language): string {
  return dateFormat(LOCALE[lang], { timeZone: 'UTC', weekday: 'short', day: 'numeric', month: 'short' }).format(new Date(`${ymd}T00:00:00Z`));
}

const cut = (s: string, n: number) => (s.length <= n ? s : `${s.slice(0, n - 1)}…`);

const F = {
  es: {
    other: 'Hola, soy el asistente de Spirit Tours. Puedo enseñarte tours, ver fechas y plazas, ayudarte a reservar, consultar o pagar tus reservas, cancelar, o pasarte con una persona. ¿Qué necesitas?',
    unsupported: (what: string) => `Perdona, no puedo ver ${what}; solo leo texto. Puedo enseñarte tours, ver fechas y plazas, reservar, consultar o pagar tus reservas, cancelar, o pasarte con una persona (escribe «persona»).`,
    things: { image: 'imágenes', sticker: 'stickers', location: 'ubicaciones', audio: 'audios', voice: 'notas de voz', video: 'vídeos', document: 'documentos', contacts: 'contactos' } as Record<string, string>,
    thatMessage: 'ese tipo de mensaje',
    toursIn: (place: string | null) => (place ? `Nuestros tours en ${place}:` : 'Nuestros tours:'),
    whichTour: '¿Qué tour te interesa?',
    hours: (h: string) => `${h} h`,
    from: 'desde',
    pickTour: 'Elige uno (o escribe su número) y te digo las fechas.',
    toursButton: 'Ver tours',
    departuresOf: (title: string, whenText: string, party: string) => `Salidas de ${title}${whenText}${party}:`,
    noneIn: (title: string, whenText: string, party: string) => `No hay salidas de ${title}${whenText}${party}.`,
    nextOnes: 'Las próximas:',
    noneAtAll: (title: string) => `Ahora mismo no hay salidas abiertas de ${title}. Escribe «persona» si quieres que busquemos otra fecha.`,
    seats: (n: number) => (n === 1 ? 'queda 1 plaza' : `quedan ${n} plazas`),
    pickDeparture: 'Elige una salida (o escribe su número) para reservar.',
    datesButton: 'Ver fechas',
    partyOf: (n: number) => ` para ${n} ${n === 1 ? 'persona' : 'personas'}`,
    askParty: (what: string) => `${what}: ¿cuántas personas sois? Escribe el número.`,
    onlySeats: (n: number) => `En esa salida ${n === 1 ? 'solo queda 1 plaza' : `solo quedan ${n} plazas`}. ¿Cuántas personas sois?`,
    askEmail: '¿A qué correo te enviamos la confirmación de la reserva?',
    badEmail: 'No veo un correo en tu mensaje. Escríbelo así: nombre@ejemplo.com',
    goneDeparture: 'Esa salida ya no está disponible. Dime el tour o escribe «tours» para ver otras fechas.',
    bookOnWhatsApp: 'Para reservar, escríbenos por WhatsApp o reserva en nuestra web: aquí no puedo comprobar quién eres.',
    signIn: (what: string) => `Para ${what}, entra en tu cuenta de Spirit Tours o escríbenos desde el WhatsApp con el que reservaste. Si lo prefieres, escribe «persona» y te atiende alguien del equipo.`,
    seeBookings: 'ver tus reservas', payBalance: 'pagar el saldo', cancelIt: 'cancelar',
    noBookings: 'No encuentro reservas próximas a tu nombre. Si reservaste con otro correo o teléfono, escribe «persona» y te ayudamos.',
    yourBookings: 'Tus reservas:',
    balance: (amount: string, due: string | null) => `saldo pendiente ${amount}${due ? ` (vence el ${due})` : ''}`,
    status: { held: 'pendiente de pago', awaiting_payment: 'pendiente de pago', confirmed: 'confirmada', paid_in_full: 'pagada', in_progress: 'en curso' } as Record<string, string>,
    payHint: 'Para pagar, escribe «pagar».',
    noBalance: 'No tienes saldo pendiente en tus reservas.',
    whichPay: '¿Qué reserva quieres pagar?',
    payButton: 'Elegir reserva',
    whichCancel: '¿Qué reserva quieres cancelar?',
    cancelButton: 'Elegir reserva',
    nothingToCancel: 'No tienes reservas que se puedan cancelar por aquí. Escribe «persona» si necesitas ayuda.',
    policy: (tiers: string) => `Antes de cancelar, esta es nuestra política de reembolso según los días que falten para la salida: ${tiers}.`,
    tier: (days: string, pct: number) => `${days}: ${pct} %`,
    daysOrMore: (d: number) => `${d} días o más`, daysRange: (a: number, b: number) => (a === b ? `${a} días` : `${a}–${b} días`),
    quote: (b: string, pct: number, refund: string, paid: string) => `Si cancelas ahora ${b}, nuestra política te devuelve el ${pct} % de lo pagado: ${refund} de ${paid}.`,
    quoteNothingPaid: (b: string) => `Si cancelas ahora ${b}, no hay nada que devolver (aún no has pagado nada) y las plazas quedan libres.`,
    quoteApproval: 'Un responsable aprueba los reembolsos como este antes de hacerlos.',
    confirmCancel: '¿Confirmas la cancelación?',
    yes: 'Sí, cancelar', no: 'No, mantener',
    kept: 'De acuerdo, tu reserva sigue en pie.',
    yesNo: 'Responde «sí» para cancelar o «no» para mantener la reserva.',
    stillThere: (what: string) => `Sigo con tu reserva. ${what}`,
    menuTours: 'Ver tours', menuBookings: 'Mis reservas', menuHuman: 'Hablar con alguien',
    moreTours: 'Escribe una ciudad o un país para ver los demás.',
  },
  en: {
    other: "Hi, I'm the Spirit Tours assistant. I can show you tours, check dates and seats, help you book, look up or pay your bookings, cancel, or pass you to a person. What do you need?",
    unsupported: (what: string) => `Sorry, I can't see ${what}; I only read text. I can show you tours, check dates and seats, book, look up or pay your bookings, cancel, or pass you to a person (write "person").`,
    things: { image: 'images', sticker: 'stickers', location: 'locations', audio: 'audio messages', voice: 'voice notes', video: 'videos', document: 'documents', contacts: 'contacts' } as Record<string, string>,
    thatMessage: 'that kind of message',
    toursIn: (place: string | null) => (place ? `Our tours in ${place}:` : 'Our tours:'),
    whichTour: 'Which tour would you like?',
    hours: (h: string) => `${h} h`,
    from: 'from',
    pickTour: 'Pick one (or write its number) and I will tell you its dates.',
    toursButton: 'See tours',
    departuresOf: (title: string, whenText: string, party: string) => `Departures of ${title}${whenText}${party}:`,
    noneIn: (title: string, whenText: string, party: string) => `There are no departures of ${title}${whenText}${party}.`,
    nextOnes: 'The next ones:',
    noneAtAll: (title: string) => `There are no open departures of ${title} right now. Write "person" if you would like us to look for another date.`,
    seats: (n: number) => (n === 1 ? '1 seat left' : `${n} seats left`),
    pickDeparture: 'Pick a departure (or write its number) to book.',
    datesButton: 'See dates',
    partyOf: (n: number) => ` for ${n} ${n === 1 ? 'person' : 'people'}`,
    askParty: (what: string) => `${what}: how many of you are travelling? Write the number.`,
    onlySeats: (n: number) => `That departure has only ${n === 1 ? '1 seat' : `${n} seats`} left. How many of you are travelling?`,
    askEmail: 'Which email should we send the booking confirmation to?',
    badEmail: 'I cannot see an email address in your message. Write it like this: name@example.com',
    goneDeparture: 'That departure is no longer available. Tell me the tour, or write "tours", to see other dates.',
    bookOnWhatsApp: 'To book, message us on WhatsApp or book on our website: here I cannot check who you are.',
    signIn: (what: string) => `To ${what}, sign in to your Spirit Tours account or message us from the WhatsApp number you booked with. If you prefer, write "person" and someone from our team will help.`,
    seeBookings: 'see your bookings', payBalance: 'pay your balance', cancelIt: 'cancel',
    noBookings: 'I cannot find upcoming bookings under your name. If you booked with another email or phone, write "person" and we will help.',
    yourBookings: 'Your bookings:',
    balance: (amount: string, due: string | null) => `balance ${amount}${due ? ` (due ${due})` : ''}`,
    status: { held: 'awaiting payment', awaiting_payment: 'awaiting payment', confirmed: 'confirmed', paid_in_full: 'paid', in_progress: 'in progress' } as Record<string, string>,
    payHint: 'To pay, write "pay".',
    noBalance: 'You have no balance to pay on your bookings.',
    whichPay: 'Which booking would you like to pay?',
    payButton: 'Choose booking',
    whichCancel: 'Which booking would you like to cancel?',
    cancelButton: 'Choose booking',
    nothingToCancel: 'You have no bookings that can be cancelled here. Write "person" if you need help.',
    policy: (tiers: string) => `Before you cancel, this is our refund policy by days before departure: ${tiers}.`,
    tier: (days: string, pct: number) => `${days}: ${pct}%`,
    daysOrMore: (d: number) => `${d} days or more`, daysRange: (a: number, b: number) => (a === b ? `${a} days` : `${a}–${b} days`),
    quote: (b: string, pct: number, refund: string, paid: string) => `If you cancel ${b} now, our policy refunds ${pct}% of what you paid: ${refund} of ${paid}.`,
    quoteNothingPaid: (b: string) => `If you cancel ${b} now, there is nothing to refund (nothing has been paid yet) and the seats are released.`,
    quoteApproval: 'A manager approves refunds like this one before they are made.',
    confirmCancel: 'Do you confirm the cancellation?',
    yes: 'Yes, cancel', no: 'No, keep it',
    kept: 'All right, your booking stays as it is.',
    yesNo: 'Answer "yes" to cancel or "no" to keep the booking.',
    stillThere: (what: string) => `I'm still on your booking. ${what}`,
    menuTours: 'See tours', menuBookings: 'My bookings', menuHuman: 'Talk to a person',
    moreTours: 'Write a city or a country to see the others.',
  },
} as const;

/** The refund tiers in words (when the customer's bookings cannot be shown). */
export function policyText(tiers: ReadonlyArray<{ minDays: number; refundBp: number }>, lang: Language): string {
  const f = F[lang];
  return f.policy(tiers.map((t, i) => f.tier(i === 0 ? f.daysOrMore(t.minDays) : f.daysRange(t.minDays, tiers[i - 1].minDays - 1), t.refundBp / 100)).join('; '));
}

function rangeText(r: { from: string; to: string } | null, lang: Language): string {
  if (!r) return '';
  return ` ${r.from === r.to ? (lang === 'es' ? `el ${dayText(r.from, lang)}` : `on ${dayText(r.from, lang)}`)
    : lang === 'es' ? `del ${dayText(r.from, lang)} al ${dayText(r.to, lang)}` : `from ${dayText(r.from, lang)} to ${dayText(r.to, lang)}`}`;
}

const numbered = (lines: string[]) => lines.map((l, i) => `${i + 1}. ${l}`);

// --- reading a reply --------------------------------------------------------------------------

/** A bare number ("2", "2.", "#2", "dos", "two"). */
export function bareNumber(text: string): number | null {
  const n = normalize(text).trim().replace(/^#/, '').replace(/[.)]$/, '');
  if (/^\d{1,2}$/.test(n)) return Number(n);
  const words: Record<string, number> = { uno: 1, una: 1, one: 1, dos: 2, two: 2, tres: 3, three: 3, cuatro: 4, four: 4, cinco: 5, five: 5, seis: 6, six: 6, siete: 7, seven: 7, ocho: 8, eight: 8, nueve: 9, nine: 9, diez: 10, ten: 10 };
  return words[n] ?? null;
}

export function emailIn(text: string): string | null {
  const m = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/.exec(text);
  return m ? m[0].toLowerCase().slice(0, 254) : null;
}

const YES = /^ (si|sii|yes|y|yep|yeah|ok|okay|vale|confirm\w*|cancel\w*|adelante|de acuerdo|claro) /;
const NO = /^ (no|nope|keep\w*|mantener\w*|mejor no|dejala|leave it) /;

/** The option a message picks: by interactive id, by its number, or by its title. */
export function chosenOption(turn: Pick<Turn, 'replyId' | 'state'>, text: string): FlowOption | null {
  const options = turn.state?.options ?? [];
  if (turn.replyId) {
    const found = options.find((o) => o.id === turn.replyId);
    if (found) return found;
    // A list from an earlier message, tapped later: its ids still say what they mean.
    return /^(tour|dep|pay|cxl|menu):[A-Za-z0-9-]{1,64}$/.test(turn.replyId) ? { id: turn.replyId, title: text } : null;
  }
  if (!options.length) return null;
  const n = bareNumber(text);
  if (n !== null && String(n) === normalize(text).trim().replace(/^#/, '').replace(/[.)]$/, '')) return options[n - 1] ?? null;
  const said = normalize(text).trim();
  if (!said) return null;
  return options.find((o) => {
    const full = normalize(o.title).trim();
    const shown = normalize(cut(o.title, ROW_TITLE).replace(/…$/, '')).trim();
    return said === full || (o.title.length > ROW_TITLE && said.startsWith(shown) && shown.length >= 8);
  }) ?? null;
}

// --- the machine ------------------------------------------------------------------------------

interface Machine {
  u: Understanding;
  lang: Language;
  turn: Turn;
  ctx: HubContext;
  offer: Offer;
  text: string;
}

const done = (o: Partial<FlowOutcome> & Pick<FlowOutcome, 'route' | 'why' | 'reply'>): FlowOutcome => ({
  interactive: null, flow: null, action: null, departureIds: [], notUnderstood: false, ...o,
});

const tourTitle = (t: OfferTour, lang: Language) => t.title[lang];

function listPayload(m: Machine, button: string, rows: Array<{ id: string; title: string; description?: string }>): Interactive | null {
  if (m.turn.channel !== 'whatsapp' || !rows.length) return null;
  return { list: { button: cut(button, BUTTON_TITLE), rows: rows.slice(0, MAX_ROWS).map((r) => ({ id: r.id, title: cut(r.title, ROW_TITLE), ...(r.description ? { description: cut(r.description, ROW_DESCRIPTION) } : {}) })) } };
}

function toursList(m: Machine, route: Route, tours: OfferTour[], header: string, state: Partial<FlowState> = {}): FlowOutcome {
  const f = F[m.lang];
  const shown = tours.slice(0, MAX_ROWS);
  const price = (t: OfferTour) => `${f.from} ${money(t.adultPriceMinor, t.currency, m.lang)}`;
  const hours = (t: OfferTour) => f.hours(String(Math.round((t.durationMinutes / 60) * 10) / 10));
  const lines = numbered(shown.map((t) => `${tourTitle(t, m.lang)} (${t.city}) — ${hours(t)}, ${price(t)}`));
  return done({
    route, why: `the ${route} flow: ${shown.length} tours offered`,
    // More tours than a list holds: the place narrows them (each city's or country's tours are few).
    reply: [header, ...lines, f.pickTour, ...(tours.length > shown.length ? [f.moreTours] : [])].join('\n'),
    interactive: listPayload(m, f.toursButton, shown.map((t) => ({ id: `tour:${t.code}`, title: tourTitle(t, m.lang), description: `${t.city} · ${hours(t)} · ${price(t)}` }))),
    flow: { ...state, step: 'pick_tour', options: shown.map((t) => ({ id: `tour:${t.code}`, title: tourTitle(t, m.lang) })) },
  });
}

/** The open departures of these tours that fit the party (in the dates asked, else the next ones), as a list. */
function departuresList(m: Machine, route: Route, codes: string[], partySize: number | null, dates: Understanding['entities']['dates'], placeName: string | null): FlowOutcome {
  const f = F[m.lang];
  const tours = m.offer.tours.filter((x) => codes.includes(x.code));
  const title = tours.length === 1 ? `${tourTitle(tours[0], m.lang)} (${tours[0].city})` : placeName ?? tours.map((t) => tourTitle(t, m.lang)).join(', ');
  const fits = m.offer.departures.filter((d) => codes.includes(d.tourCode) && d.seatsLeft >= (partySize ?? 1));
  const inRange = dates ? fits.filter((d) => { const day = localDay(d.startsAt, d.timezone); return day >= dates.from && day <= dates.to; }) : fits;
  const partyText = partySize ? f.partyOf(partySize) : '';
  let head: string[];
  let listed: OfferDeparture[];
  if (inRange.length) {
    listed = inRange.slice(0, dates ? MAX_ROWS : 5);
    head = [f.departuresOf(title, rangeText(dates, m.lang), partyText)];
  } else {
    listed = fits.filter((d) => !dates || localDay(d.startsAt, d.timezone) > dates.to).slice(0, 3);
    if (!listed.length) return done({ route, why: `the ${route} flow: no open departures of ${codes.join(', ')}`, reply: f.noneAtAll(title) });
    head = [f.noneIn(title, rangeText(dates, m.lang), partyText), f.nextOnes];
  }
  const tourOf = (d: OfferDeparture) => m.offer.tours.find((x) => x.code === d.tourCode);
  const price = (d: OfferDeparture) => `${f.from} ${money(d.adultPriceMinor, d.currency, m.lang)}`;
  const line = (d: OfferDeparture) => {
    const t = tourOf(d);
    return `${tours.length === 1 || !t ? '' : `${tourTitle(t, m.lang)} — `}${when(d.startsAt, d.timezone, m.lang)} — ${f.seats(d.seatsLeft)}, ${price(d)}`;
  };
  const options = listed.map((d) => ({ id: `dep:${d.id}`, title: when(d.startsAt, d.timezone, m.lang) }));
  return done({
    route, why: `the ${route} flow: ${listed.length} departures offered`,
    reply: [...head, ...numbered(listed.map(line)), f.pickDeparture].join('\n'),
    interactive: listPayload(m, f.datesButton, listed.map((d) => {
      const t = tourOf(d);
      return { id: `dep:${d.id}`, title: when(d.startsAt, d.timezone, m.lang), description: `${tours.length === 1 || !t ? '' : `${tourTitle(t, m.lang)} · `}${f.seats(d.seatsLeft)} · ${price(d)}` };
    })),
    flow: { step: 'pick_departure', options, tourCodes: codes, ...(partySize ? { partySize } : {}) },
    departureIds: listed.map((d) => d.id),
  });
}

function departureName(m: Machine, d: OfferDeparture): string {
  const t = m.offer.tours.find((x) => x.code === d.tourCode);
  return `${t ? tourTitle(t, m.lang) : d.tourCode}, ${when(d.startsAt, d.timezone, m.lang)}`;
}

/** A departure and (maybe) a party size are known: ask what is missing, or hold. */
function towardsHold(m: Machine, departureId: string, partySize: number | null, state: FlowState | null): FlowOutcome {
  const f = F[m.lang];
  const d = m.offer.departures.find((x) => x.id === departureId);
  if (!d || d.seatsLeft <= 0) return done({ route: 'book', why: 'the departure picked is no longer open', reply: f.goneDeparture });
  if (m.ctx.bookings === null) return done({ route: 'book', why: 'booking needs a verified channel (a WhatsApp number)', reply: f.bookOnWhatsApp });
  const base = { departureId, tourCodes: [d.tourCode], ...(state?.email ? { email: state.email } : {}) };
  if (!partySize) {
    return done({ route: 'book', why: 'the book flow: asking the party size', reply: f.askParty(departureName(m, d)), flow: { ...base, step: 'party', options: [] }, departureIds: [d.id] });
  }
  if (partySize > d.seatsLeft) {
    return done({ route: 'book', why: `the book flow: ${partySize} asked, ${d.seatsLeft} seats left`, reply: f.onlySeats(d.seatsLeft), flow: { ...base, step: 'party', options: [] }, departureIds: [d.id] });
  }
  const email = state?.email ?? m.ctx.customer?.email ?? null;
  if (!email) {
    return done({ route: 'book', why: 'the book flow: asking an email for the confirmation', reply: f.askEmail, flow: { ...base, step: 'email', options: [], partySize }, departureIds: [d.id] });
  }
  const t = m.offer.tours.find((x) => x.code === d.tourCode);
  return done({
    route: 'book', why: `the book flow: hold ${partySize} seats on departure ${d.id}`, reply: f.departuresOf(departureName(m, d), '', f.partyOf(partySize)),
    action: { kind: 'hold', departureId: d.id, partySize, email: state?.email ?? null, tourTitle: t ? tourTitle(t, m.lang) : d.tourCode, startsAt: d.startsAt, timezone: d.timezone },
    departureIds: [d.id],
  });
}

const bookingName = (b: HubBooking, lang: Language) => `${b.reference} (${b.tourTitle[lang]}, ${when(b.startsAt, b.timezone, lang)})`;

function bookingsLines(m: Machine, list: HubBooking[]): string[] {
  const f = F[m.lang];
  return numbered(list.map((b) => `${b.reference} — ${b.tourTitle[m.lang]}, ${when(b.startsAt, b.timezone, m.lang)} — ${f.status[b.status] ?? b.status}${b.balanceMinor > 0 ? `, ${f.balance(money(b.balanceMinor, b.currency, m.lang), b.balanceDueOn ? dayText(b.balanceDueOn, m.lang) : null)}` : ''}`));
}

function pickBooking(m: Machine, route: Route, list: HubBooking[], prefix: 'pay' | 'cxl', question: string, button: string): FlowOutcome {
  const shown = list.slice(0, MAX_ROWS);
  return done({
    route, why: `the ${route} flow: ${shown.length} bookings to choose from`,
    reply: [question, ...bookingsLines(m, shown)].join('\n'),
    interactive: listPayload(m, button, shown.map((b) => ({ id: `${prefix}:${b.id}`, title: b.reference, description: `${b.tourTitle[m.lang]} · ${when(b.startsAt, b.timezone, m.lang)}${prefix === 'pay' ? ` · ${money(b.dueMinor, b.currency, m.lang)}` : ''}` }))),
    flow: { step: prefix === 'pay' ? 'pick_pay' : 'pick_cancel', options: shown.map((b) => ({ id: `${prefix}:${b.id}`, title: b.reference })) },
  });
}

/** The refund the policy gives now, and the question. */
function cancelQuote(m: Machine, b: HubBooking): FlowOutcome {
  const f = F[m.lang];
  const q = b.refund;
  const lines = [q.paidMinor > 0 ? f.quote(bookingName(b, m.lang), q.refundBp / 100, money(q.refundMinor, b.currency, m.lang), money(q.paidMinor, b.currency, m.lang)) : f.quoteNothingPaid(bookingName(b, m.lang))];
  if (q.needsApproval) lines.push(f.quoteApproval);
  lines.push(f.confirmCancel, `1. ${f.yes}`, `2. ${f.no}`);
  const options = [{ id: 'yes', title: f.yes }, { id: 'no', title: f.no }];
  return done({
    route: 'cancel', why: `the cancel flow: ${b.reference} refunds ${q.refundMinor} (${q.refundBp / 100}%) now; asking to confirm`,
    reply: lines.join('\n'),
    interactive: m.turn.channel === 'whatsapp' ? { buttons: options.map((o) => ({ id: o.id, title: cut(o.title, BUTTON_TITLE) })) } : null,
    flow: { step: 'confirm_cancel', options, bookingId: b.id },
  });
}

const owing = (list: HubBooking[]) => list.filter((b) => b.payable && b.dueMinor > 0);
const cancellable = (list: HubBooking[]) => list.filter((b) => b.cancellable);

function payFlow(m: Machine): FlowOutcome {
  const f = F[m.lang];
  if (m.ctx.bookings === null) return done({ route: 'pay_balance', why: 'bookings need a verified channel', reply: f.signIn(f.payBalance) });
  const due = owing(m.ctx.bookings);
  if (!due.length) return done({ route: 'pay_balance', why: 'the pay_balance flow: nothing owed', reply: m.ctx.bookings.length ? f.noBalance : f.noBookings });
  if (due.length === 1) return payLinkFor(due[0]);
  return pickBooking(m, 'pay_balance', due, 'pay', f.whichPay, f.payButton);
}

function payLinkFor(b: HubBooking): FlowOutcome {
  return done({ route: 'pay_balance', why: `the pay_balance flow: the payment link of ${b.reference}`, reply: b.reference, action: { kind: 'pay_link', bookingId: b.id, reference: b.reference } });
}

function cancelFlow(m: Machine, policy: string): FlowOutcome {
  const f = F[m.lang];
  if (m.ctx.bookings === null) return done({ route: 'cancel', why: 'bookings need a verified channel', reply: `${policy}\n${f.signIn(f.cancelIt)}` });
  if (!m.ctx.bookings.length) return done({ route: 'cancel', why: 'the cancel flow: no bookings', reply: f.noBookings });
  const open = cancellable(m.ctx.bookings);
  if (!open.length) return done({ route: 'cancel', why: 'the cancel flow: nothing cancellable', reply: f.nothingToCancel });
  if (open.length === 1) return cancelQuote(m, open[0]);
  return pickBooking(m, 'cancel', open, 'cxl', f.whichCancel, f.cancelButton);
}

/** What the bot can do, with three buttons (and numbers, for channels without buttons) so the customer always has a way on. */
function menu(m: Machine, why: string, notUnderstood: boolean): FlowOutcome {
  const f = F[m.lang];
  const options: FlowOption[] = [{ id: 'menu:browse', title: f.menuTours }, { id: 'menu:bookings', title: f.menuBookings }, { id: 'menu:human', title: f.menuHuman }];
  return done({
    route: 'other', why, reply: [f.other, ...numbered(options.map((o) => o.title))].join('\n'),
    interactive: m.turn.channel === 'whatsapp' ? { buttons: options.map((o) => ({ id: o.id, title: cut(o.title, BUTTON_TITLE) })) } : null,
    flow: { step: 'menu', options }, notUnderstood,
  });
}

/** A pick from the options offered (or an id from an earlier list). */
function onPick(m: Machine, o: FlowOption): FlowOutcome {
  const f = F[m.lang];
  const state = m.turn.state;
  const [prefix, id] = o.id.includes(':') ? [o.id.slice(0, o.id.indexOf(':')), o.id.slice(o.id.indexOf(':') + 1)] : [o.id, ''];
  const booking = (bid: string) => m.ctx.bookings?.find((b) => b.id === bid);
  switch (prefix) {
    case 'tour': return departuresList(m, 'availability', [id], state?.partySize ?? m.u.entities.partySize, null, null);
    case 'dep': return towardsHold(m, id, state?.partySize ?? null, state);
    case 'pay': {
      const b = booking(id);
      return b && b.payable && b.dueMinor > 0 ? payLinkFor(b) : payFlow(m);
    }
    case 'cxl': {
      const b = booking(id);
      return b && b.cancellable ? cancelQuote(m, b) : cancelFlow(m, '');
    }
    case 'yes': {
      const b = state?.bookingId ? booking(state.bookingId) : undefined;
      if (!b || !b.cancellable) return done({ route: 'cancel', why: 'the booking to cancel is no longer open', reply: f.nothingToCancel });
      return done({ route: 'cancel', why: `the cancel flow: confirmed, cancel ${b.reference}`, reply: b.reference, action: { kind: 'cancel', bookingId: b.id, reference: b.reference } });
    }
    case 'no': return done({ route: 'cancel', why: 'the cancel flow: the customer keeps the booking', reply: f.kept });
    case 'menu':
      if (id === 'browse') return toursList(m, 'browse', m.offer.tours, f.toursIn(null));
      if (id === 'bookings') return startFlow({ ...m.u, intent: 'my_bookings' }, m.lang, m.turn, m.ctx, m.offer, []);
      return done({ route: 'human', why: 'the customer chose to talk to a person', reply: '' });
    default: return menu(m, `an unknown choice ${o.id}`, true);
  }
}

/** The question of the step the conversation is at (asked again after a message that does not answer it). */
function reprompt(m: Machine, state: FlowState): string {
  const f = F[m.lang];
  switch (state.step) {
    case 'pick_tour': return [f.whichTour, ...numbered(state.options.map((o) => o.title)), f.pickTour].join('\n');
    case 'pick_departure': return [f.pickDeparture, ...numbered(state.options.map((o) => o.title))].join('\n');
    case 'party': return f.askParty(m.offer.departures.find((d) => d.id === state.departureId) ? departureName(m, m.offer.departures.find((d) => d.id === state.departureId)!) : f.nextOnes.replace(':', ''));
    case 'email': return f.badEmail;
    case 'pick_pay': return [f.whichPay, ...numbered(state.options.map((o) => o.title))].join('\n');
    case 'pick_cancel': return [f.whichCancel, ...numbered(state.options.map((o) => o.title))].join('\n');
    case 'confirm_cancel': return f.yesNo;
    case 'menu': return f.other;
  }
}

/**
 * A message that continues the flow in progress (a pick, a party size, an email, a yes/no), or
 * null when it starts something else.
 */
export function continueFlow(u: Understanding, lang: Language, turn: Turn, ctx: HubContext, offer: Offer, text: string): FlowOutcome | null {
  const m: Machine = { u, lang, turn, ctx, offer, text };
  const state = turn.state;
  const pick = chosenOption(turn, text);
  if (pick) return onPick(m, pick);
  if (!state || state.step === 'menu') return null;
  const said = ` ${normalize(text).trim()} `;
  switch (state.step) {
    case 'party': {
      const n = bareNumber(text) ?? u.entities.partySize;
      if (n && n >= 1 && n <= 99 && state.departureId) return towardsHold(m, state.departureId, n, state);
      break;
    }
    case 'email': {
      const email = emailIn(text);
      if (email && state.departureId && state.partySize) return towardsHold(m, state.departureId, state.partySize, { ...state, email });
      break;
    }
    case 'confirm_cancel':
      if (YES.test(said)) return onPick(m, { id: 'yes', title: text });
      if (NO.test(said)) return onPick(m, { id: 'no', title: text });
      break;
    case 'pick_departure':
      // "somos 3" after the dates: the party is known for the pick that follows.
      if (u.intent === 'other' && u.entities.partySize && !u.entities.destination) {
        return departuresList(m, 'availability', state.tourCodes ?? [], u.entities.partySize, u.entities.dates, null);
      }
      break;
    default: break;
  }
  // Not an answer to the step. Something else asked (another intent) starts over; words the bot
  // does not understand get the step's question again (and count as not understood).
  if (u.intent !== 'other') return null;
  // Small talk ("gracias", "ok") is understood as such and does not count towards a person.
  return done({ route: 'other', why: `not an answer to the ${state.step} step: asked again`, reply: F[lang].stillThere(reprompt(m, state)), flow: state, notUnderstood: u.confidence < 0.9 });
}

/** A message the bot cannot read: a polite answer; the flow in progress stays. */
export function unsupported(lang: Language, type: string | null, state: FlowState | null): FlowOutcome {
  const f = F[lang];
  return done({ route: 'other', why: `an unsupported message (${type ?? 'unknown'}): a polite answer`, reply: f.unsupported(f.things[type ?? ''] ?? f.thatMessage), flow: state });
}

/** A message that starts a flow by its intent (human requests and unsure intents are the core's). */
export function startFlow(u: Understanding, lang: Language, turn: Turn, ctx: HubContext, offer: Offer, refundTiers: ReadonlyArray<{ minDays: number; refundBp: number }>): FlowOutcome {
  const m: Machine = { u, lang, turn, ctx, offer, text: '' };
  const f = F[lang];
  const dest = u.entities.destination;
  switch (u.intent) {
    case 'browse': {
      const tours = dest ? offer.tours.filter((x) => dest.tourCodes.includes(x.code)) : offer.tours;
      return toursList(m, 'browse', tours, f.toursIn(dest?.name ?? null));
    }
    case 'availability':
    case 'book': {
      const codes = dest?.tourCodes ?? turn.state?.tourCodes ?? null;
      const party = u.entities.partySize ?? turn.state?.partySize ?? null;
      if (!codes?.length) return toursList(m, u.intent, offer.tours, f.whichTour, party ? { partySize: party } : {});
      return departuresList(m, u.intent, codes, party, u.entities.dates, dest?.name ?? null);
    }
    case 'my_bookings': {
      if (ctx.bookings === null) return done({ route: 'my_bookings', why: 'bookings need a verified channel', reply: f.signIn(f.seeBookings) });
      if (!ctx.bookings.length) return done({ route: 'my_bookings', why: 'the my_bookings flow: none', reply: f.noBookings });
      const lines = bookingsLines(m, ctx.bookings.slice(0, MAX_ROWS));
      return done({ route: 'my_bookings', why: `the my_bookings flow: ${lines.length} bookings`, reply: [f.yourBookings, ...lines, ...(owing(ctx.bookings).length ? [f.payHint] : [])].join('\n') });
    }
    case 'pay_balance': return payFlow(m);
    case 'cancel': return cancelFlow(m, policyText(refundTiers, lang));
    default: return menu(m, 'the other flow: what the bot can do', u.confidence < 0.9);
  }
}

// --- what the actions did, in words -----------------------------------------------------------

export type HoldOutcome =
  | { placed: true; reference: string; paxCount: number; totalMinor: number; dueNowMinor: number; currency: string; expiresAt: string; link: string; tourTitle: string; startsAt: string; timezone: string }
  | { placed: false; code: string; seatsAvailable?: number };

export function holdReply(lang: Language, h: HoldOutcome): string {
  if (h.placed) {
    const start = when(h.startsAt, h.timezone, lang);
    const until = clock(h.expiresAt, h.timezone, lang);
    const total = money(h.totalMinor, h.currency, lang);
    const now = money(h.dueNowMinor, h.currency, lang);
    return lang === 'es'
      ? `¡Hecho! Te guardo ${h.paxCount === 1 ? '1 plaza' : `${h.paxCount} plazas`} en ${h.tourTitle}, ${start}. Reserva ${h.reference}: total ${total}${h.dueNowMinor < h.totalMinor ? `, ahora pagas ${now} de señal` : ''}.\nLas plazas quedan reservadas hasta el ${until}; paga aquí para confirmarla: ${h.link}`
      : `Done! I'm holding ${h.paxCount === 1 ? '1 seat' : `${h.paxCount} seats`} on ${h.tourTitle}, ${start}. Booking ${h.reference}: total ${total}${h.dueNowMinor < h.totalMinor ? `, ${now} deposit now` : ''}.\nThe seats are held until ${until}; pay here to confirm it: ${h.link}`;
  }
  const why: Record<string, [string, string]> = {
    sold_out: ['esa salida se acaba de agotar', 'that departure has just sold out'],
    not_enough_seats: [`en esa salida solo quedan ${h.seatsAvailable ?? 0} plazas`, `that departure has only ${h.seatsAvailable ?? 0} seats left`],
    too_many_passengers: ['sois más personas de las que admite este tour por reserva', 'that is more people than this tour takes per booking'],
    too_few_passengers: ['este tour necesita más personas por reserva', 'this tour needs more people per booking'],
    departure_closed: ['esa salida ya no admite reservas', 'that departure takes no more bookings'],
    departure_started: ['esa salida ya ha empezado', 'that departure has already started'],
    departure_not_found: ['esa salida ya no existe', 'that departure no longer exists'],
  };
  const [es, en] = why[h.code] ?? ['no se ha podido hacer la reserva', 'the booking could not be made'];
  return lang === 'es'
    ? `Lo siento, no he podido reservar: ${es}. Dime el tour o escribe «tours» para ver otras fechas, o «persona» si prefieres que te ayude alguien del equipo.`
    : `Sorry, I could not book it: ${en}. Tell me the tour, or write "tours", to see other dates, or "person" if you would rather talk to our team.`;
}

export function payLinkReply(lang: Language, p: { reference: string; dueMinor: number; currency: string; link: string }): string {
  return lang === 'es'
    ? `Para pagar ${money(p.dueMinor, p.currency, lang)} de tu reserva ${p.reference}, usa este enlace: ${p.link}`
    : `To pay ${money(p.dueMinor, p.currency, lang)} on your booking ${p.reference}, use this link: ${p.link}`;
}

export type CancelOutcome =
  | { outcome: 'cancelled'; reference: string; refundMinor: number; currency: string }
  | { outcome: 'pending_approval'; reference: string; refundMinor: number; currency: string }
  | { outcome: 'refused'; reference: string; code: string };

export function cancelReply(lang: Language, c: CancelOutcome): string {
  if (c.outcome === 'cancelled') {
    const refund = c.refundMinor > 0;
    return lang === 'es'
      ? `Tu reserva ${c.reference} está cancelada.${refund ? ` Te devolvemos ${money(c.refundMinor, c.currency, lang)} al mismo medio de pago.` : ''} Te lo confirmamos también por correo.`
      : `Your booking ${c.reference} is cancelled.${refund ? ` We are refunding ${money(c.refundMinor, c.currency, lang)} to the same payment method.` : ''} We are confirming it by email too.`;
  }
  if (c.outcome === 'pending_approval') {
    return lang === 'es'
      ? `He pedido la cancelación de ${c.reference}. El reembolso de ${money(c.refundMinor, c.currency, lang)} espera la aprobación de un responsable; te avisamos en cuanto se decida.`
      : `I have asked to cancel ${c.reference}. The refund of ${money(c.refundMinor, c.currency, lang)} waits for a manager's approval; we will let you know as soon as it is decided.`;
  }
  return lang === 'es'
    ? `No he podido cancelar ${c.reference}${c.code === 'trip_started' ? ': el viaje ya ha empezado' : c.code === 'cancellation_pending' ? ': ya hay una cancelación pendiente' : ''}. Escribe «persona» y te ayuda alguien del equipo.`
    : `I could not cancel ${c.reference}${c.code === 'trip_started' ? ': the trip has already started' : c.code === 'cancellation_pending' ? ': a cancellation is already pending' : ''}. Write "person" and someone from our team will help.`;
}
