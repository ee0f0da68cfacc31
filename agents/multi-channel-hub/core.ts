/**
 * MultiChannelHub's decision, pure: what the message says (understand.ts), where it goes (a flow
 * named after its intent, or the human queue), and the bot's answer in the customer's language,
 * from the catalog data the run gathered (real departures, tours, prices).
 *
 * To the human queue: the customer asks for a person; the intent is unsure (confidence below
 * HUMAN_BELOW); or a second message in a row is not understood. While a person has the
 * conversation (waiting for one, or with one) the bot stays quiet and only records.
 */
import { DEFAULT_BOOKING_RULES, currencyExponent } from '../../domain/booking-rules';
import { understand, type Destination, type Intent, type Language, type Understanding } from './understand';

export const HUMAN_BELOW = 0.45;

export interface ContextMessage { direction: 'in' | 'out'; author: string; intent: string | null; text: string }

export interface HubContext {
  conversation: { id: string; status: 'bot' | 'waiting_human' | 'with_human' | 'closed'; language: Language | null; otherStreak: number; customerKnown: boolean };
  /** The customer's bookings, only when the channel vouches for who they are (a WhatsApp number); null otherwise. */
  bookings: Array<{ reference: string; status: string; tourTitle: Record<Language, string>; startsAt: string; timezone: string; balanceMinor: number; currency: string; balanceDueOn: string | null }> | null;
  timeZone: string;
}

export interface OfferTour { code: string; city: string; country: string; title: Record<Language, string>; adultPriceMinor: number; currency: string; durationMinutes: number }
export interface OfferDeparture { id: string; tourCode: string; startsAt: string; timezone: string; seatsLeft: number; adultPriceMinor: number; currency: string }

/** The catalog as one message concerns it (tool conversations.offer). */
export interface Offer {
  destinations: Destination[];
  tours: OfferTour[];
  /** Open departures of the tours the message names: in its dates, then the next few. */
  departures: OfferDeparture[];
}

export type Route = Exclude<Intent, 'human'> | 'human';

export interface HubOutcome {
  understanding: Understanding;
  route: Route;
  why: string;
  status: HubContext['conversation']['status'];
  reply: string | null;
  /** The departures the reply names. */
  departureIds: string[];
}

const T = {
  es: {
    human: 'Te paso con una persona de nuestro equipo; te responderá aquí en breve.',
    unsure: 'No estoy seguro de haberte entendido, así que te paso con una persona de nuestro equipo; te responderá aquí en breve.',
    repeatedOther: 'Perdona, sigo sin entenderte. Te paso con una persona de nuestro equipo; te responderá aquí en breve.',
    other: 'Hola, soy el asistente de Spirit Tours. Puedo enseñarte tours, ver fechas y plazas, ayudarte a reservar, consultar o pagar tus reservas, cancelar, o pasarte con una persona. ¿Qué necesitas?',
    whichDestination: (places: string) => `¿Para qué destino o tour? Tenemos: ${places}.`,
    departuresOf: (title: string, when: string, party: string) => `Salidas de ${title}${when}${party}:`,
    noneIn: (title: string, when: string, party: string) => `No hay salidas de ${title}${when}${party}.`,
    nextOnes: 'Las próximas:',
    noneAtAll: (title: string) => `Ahora mismo no hay salidas abiertas de ${title}. Te paso con una persona si quieres otra fecha.`,
    seats: (n: number) => (n === 1 ? 'queda 1 plaza' : `quedan ${n} plazas`),
    from: 'desde',
    askBook: 'Para reservar, dime la fecha y cuántas personas sois.',
    askDates: '¿Qué fecha te interesa y cuántas personas sois?',
    toursIn: (place: string | null) => (place ? `Nuestros tours en ${place}:` : 'Nuestros tours:'),
    hours: (h: string) => `${h} h`,
    browseEnd: 'Pregúntame por fechas de cualquiera de ellos.',
    signIn: (what: string) => `Para ${what}, entra en tu cuenta de Spirit Tours o escríbenos desde el WhatsApp con el que reservaste. Si lo prefieres, escribe «persona» y te atiende alguien del equipo.`,
    seeBookings: 'ver tus reservas', payBalance: 'pagar el saldo', cancelIt: 'cancelar',
    noBookings: 'No encuentro reservas a tu nombre. Si reservaste con otro correo o teléfono, escribe «persona» y te ayudamos.',
    yourBookings: 'Tus reservas:',
    balance: (amount: string, due: string | null) => `saldo pendiente ${amount}${due ? ` (vence el ${due})` : ''}`,
    paid: 'pagada',
    noBalance: 'No tienes saldo pendiente en tus reservas.',
    payHow: 'Para pagarlo, dime la referencia de la reserva y te envío el enlace de pago.',
    policy: (tiers: string) => `Antes de cancelar, esta es nuestra política de reembolso según los días que falten para la salida: ${tiers}.`,
    cancelHow: 'Para seguir, dime la referencia de la reserva y confirma que quieres cancelarla.',
    tier: (days: string, pct: number) => `${days}: ${pct} %`,
    daysOrMore: (d: number) => `${d} días o más`, daysRange: (a: number, b: number) => (a === b ? `${a} días` : `${a}–${b} días`),
    partyOf: (n: number) => ` para ${n} ${n === 1 ? 'persona' : 'personas'}`,
    on: (range: string) => ` ${range}`,
  },
  en: {
    human: "I'm passing you to a person from our team; they will answer here shortly.",
    unsure: "I'm not sure I understood, so I'm passing you to a person from our team; they will answer here shortly.",
    repeatedOther: "Sorry, I still don't understand. I'm passing you to a person from our team; they will answer here shortly.",
    other: "Hi, I'm the Spirit Tours assistant. I can show you tours, check dates and seats, help you book, look up or pay your bookings, cancel, or pass you to a person. What do you need?",
    whichDestination: (places: string) => `Which destination or tour? We have: ${places}.`,
    departuresOf: (title: string, when: string, party: string) => `Departures of ${title}${when}${party}:`,
    noneIn: (title: string, when: string, party: string) => `There are no departures of ${title}${when}${party}.`,
    nextOnes: 'The next ones:',
    noneAtAll: (title: string) => `There are no open departures of ${title} right now. I can pass you to a person for another date.`,
    seats: (n: number) => (n === 1 ? '1 seat left' : `${n} seats left`),
    from: 'from',
    askBook: 'To book, tell me the date and how many of you are travelling.',
    askDates: 'Which date would you like, and how many of you are there?',
    toursIn: (place: string | null) => (place ? `Our tours in ${place}:` : 'Our tours:'),
    hours: (h: string) => `${h} h`,
    browseEnd: 'Ask me about dates for any of them.',
    signIn: (what: string) => `To ${what}, sign in to your Spirit Tours account or message us from the WhatsApp number you booked with. If you prefer, write "person" and someone from our team will help.`,
    seeBookings: 'see your bookings', payBalance: 'pay your balance', cancelIt: 'cancel',
    noBookings: 'I cannot find bookings under your name. If you booked with another email or phone, write "person" and we will help.',
    yourBookings: 'Your bookings:',
    balance: (amount: string, due: string | null) => `balance ${amount}${due ? ` (due ${due})` : ''}`,
    paid: 'paid',
    noBalance: 'You have no balance to pay on your bookings.',
    payHow: 'To pay it, tell me the booking reference and I will send you the payment link.',
    policy: (tiers: string) => `Before you cancel, this is our refund policy by days before departure: ${tiers}.`,
    cancelHow: 'To go ahead, tell me the booking reference and confirm you want to cancel it.',
    tier: (days: string, pct: number) => `${days}: ${pct}%`,
    daysOrMore: (d: number) => `${d} days or more`, daysRange: (a: number, b: number) => (a === b ? `${a} days` : `${a}–${b} days`),
    partyOf: (n: number) => ` for ${n} ${n === 1 ? 'person' : 'people'}`,
    on: (range: string) => ` ${range}`,
  },
} as const;

const LOCALE: Record<Language, string> = { es: 'es-ES', en: 'en-GB' };

export function money(minor: number, currency: string, lang: Language): string {
  const exp = currencyExponent(currency);
  // Plain spaces: Intl puts no-break spaces before the symbol, which chat clients show oddly.
  return new Intl.NumberFormat(LOCALE[lang], { style: 'currency', currency, minimumFractionDigits: exp, maximumFractionDigits: exp }).format(minor / 10 ** exp).replace(/[\u00a0\u202f]/g, ' ');
}

function when(iso: string, timeZone: string, lang: Language): string {
  return new Intl.DateTimeFormat(LOCALE[lang], { timeZone, weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hour12: false }).format(new Date(iso));
}

function dayText(ymd: string, lang: Language): string {
  return new Intl.DateTimeFormat(LOCALE[lang], { timeZone: 'UTC', weekday: 'short', day: 'numeric', month: 'short' }).format(new Date(`${ymd}T00:00:00Z`));
}

function rangeText(r: { from: string; to: string } | null, lang: Language): string {
  if (!r) return '';
  const text = r.from === r.to ? (lang === 'es' ? `el ${dayText(r.from, lang)}` : `on ${dayText(r.from, lang)}`)
    : lang === 'es' ? `del ${dayText(r.from, lang)} al ${dayText(r.to, lang)}` : `from ${dayText(r.from, lang)} to ${dayText(r.to, lang)}`;
  return T[lang].on(text);
}

/** The local calendar day of an instant in a time zone. */
function localDay(iso: string, timeZone: string): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(iso));
}

function policyText(lang: Language): string {
  const tiers = DEFAULT_BOOKING_RULES.refundTiers;
  return tiers.map((t, i) => {
    const days = i === 0 ? T[lang].daysOrMore(t.minDays) : T[lang].daysRange(t.minDays, tiers[i - 1].minDays - 1);
    return T[lang].tier(days, t.refundBp / 100);
  }).join('; ');
}

const MAX_LISTED = 5;

function departuresReply(u: Understanding, offer: Offer, lang: Language, intent: 'availability' | 'book'): { text: string; ids: string[] } {
  const t = T[lang];
  const dest = u.entities.destination;
  if (!dest) {
    const places = [...new Set(offer.tours.map((x) => x.city))].join(', ');
    return { text: t.whichDestination(places), ids: [] };
  }
  const tours = offer.tours.filter((x) => dest.tourCodes.includes(x.code));
  const title = tours.length === 1 ? `${tours[0].title[lang]} (${tours[0].city})` : dest.name;
  const party = u.entities.partySize ?? 1;
  const fits = offer.departures.filter((d) => dest.tourCodes.includes(d.tourCode) && d.seatsLeft >= party);
  const range = u.entities.dates;
  const inRange = range ? fits.filter((d) => { const day = localDay(d.startsAt, d.timezone); return day >= range.from && day <= range.to; }) : fits;
  const line = (d: OfferDeparture) => {
    const tour = offer.tours.find((x) => x.code === d.tourCode);
    const name = tours.length === 1 || !tour ? '' : `${tour.title[lang]} — `;
    return `• ${name}${when(d.startsAt, d.timezone, lang)} — ${t.seats(d.seatsLeft)}, ${t.from} ${money(d.adultPriceMinor, d.currency, lang)}`;
  };
  const partyText = u.entities.partySize ? t.partyOf(u.entities.partySize) : '';
  const ask = intent === 'book' ? t.askBook : u.entities.partySize && range ? '' : t.askDates;
  if (inRange.length) {
    const listed = inRange.slice(0, MAX_LISTED);
    return { text: [t.departuresOf(title, rangeText(range, lang), partyText), ...listed.map(line), ask].filter(Boolean).join('\n'), ids: listed.map((d) => d.id) };
  }
  const later = fits.filter((d) => !range || localDay(d.startsAt, d.timezone) > range.to).slice(0, 3);
  if (!later.length) return { text: t.noneAtAll(title), ids: [] };
  return { text: [t.noneIn(title, rangeText(range, lang), partyText), t.nextOnes, ...later.map(line), ask].filter(Boolean).join('\n'), ids: later.map((d) => d.id) };
}

function browseReply(u: Understanding, offer: Offer, lang: Language): string {
  const t = T[lang];
  const dest = u.entities.destination;
  const tours = dest ? offer.tours.filter((x) => dest.tourCodes.includes(x.code)) : offer.tours;
  const listed = tours.slice(0, 8).map((x) => `• ${x.title[lang]} (${x.city}) — ${t.hours(String(Math.round((x.durationMinutes / 60) * 10) / 10))}, ${t.from} ${money(x.adultPriceMinor, x.currency, lang)}`);
  return [t.toursIn(dest?.name ?? null), ...listed, t.browseEnd].join('\n');
}

function bookingsReply(intent: 'my_bookings' | 'pay_balance', ctx: HubContext, lang: Language): string {
  const t = T[lang];
  if (!ctx.bookings) return t.signIn(intent === 'my_bookings' ? t.seeBookings : t.payBalance);
  if (!ctx.bookings.length) return t.noBookings;
  const owing = ctx.bookings.filter((b) => b.balanceMinor > 0);
  const shown = intent === 'pay_balance' ? owing : ctx.bookings;
  if (!shown.length) return t.noBalance;
  const lines = shown.slice(0, MAX_LISTED).map((b) => `• ${b.reference} — ${b.tourTitle[lang]}, ${when(b.startsAt, b.timezone, lang)} — ${b.status}${b.balanceMinor > 0 ? `, ${t.balance(money(b.balanceMinor, b.currency, lang), b.balanceDueOn)}` : ''}`);
  return [t.yourBookings, ...lines, ...(intent === 'pay_balance' ? [t.payHow] : [])].join('\n');
}

/** The whole decision for one inbound message. */
export function decide(text: string, ctx: HubContext, offer: Offer, now: Date): HubOutcome {
  const u = understand(text, { now, destinations: offer.destinations, timeZone: ctx.timeZone, fallbackLanguage: ctx.conversation.language ?? undefined });
  const lang = u.language;
  const t = T[lang];
  const base = { understanding: u, departureIds: [] as string[] };
  if (ctx.conversation.status === 'waiting_human' || ctx.conversation.status === 'with_human') {
    return { ...base, route: 'human', why: `a person has this conversation (${ctx.conversation.status})`, status: ctx.conversation.status, reply: null };
  }
  if (u.intent === 'human') return { ...base, route: 'human', why: 'the customer asked for a person', status: 'waiting_human', reply: t.human };
  if (u.intent === 'other' && ctx.conversation.otherStreak >= 1) {
    return { ...base, route: 'human', why: 'a second message in a row not understood', status: 'waiting_human', reply: t.repeatedOther };
  }
  if (u.intent !== 'other' && u.confidence < HUMAN_BELOW) {
    return { ...base, route: 'human', why: `unsure of the intent (confidence ${u.confidence} below ${HUMAN_BELOW})`, status: 'waiting_human', reply: t.unsure };
  }
  const flow = (reply: string, ids: string[] = []): HubOutcome => ({ understanding: u, route: u.intent as Route, why: `the ${u.intent} flow`, status: 'bot', reply, departureIds: ids });
  switch (u.intent) {
    case 'availability':
    case 'book': {
      const r = departuresReply(u, offer, lang, u.intent);
      return flow(r.text, r.ids);
    }
    case 'browse': return flow(browseReply(u, offer, lang));
    case 'my_bookings':
    case 'pay_balance': return flow(bookingsReply(u.intent, ctx, lang));
    case 'cancel': return flow(ctx.bookings === null ? `${t.policy(policyText(lang))}\n${t.signIn(t.cancelIt)}` : `${t.policy(policyText(lang))}\n${t.cancelHow}`);
    default: return flow(t.other);
  }
}
