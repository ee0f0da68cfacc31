/**
 * What a customer's message says, by rules and lexicons (Spanish and English): its language, its
 * intent (browse, availability, book, my_bookings, pay_balance, cancel, human, other) with a
 * confidence, and its entities (a date or date range, the party size, a destination of the
 * catalog). Pure: the same text, clock and destinations give the same answer, so every channel
 * (web chat, WhatsApp, email) reuses it and tests pin it down exactly.
 *
 * Conventions: a weekday ("el viernes", "next friday") is its next occurrence after today; "next
 * week" is Monday to Sunday of the coming week; a day and month without a year is the next such
 * date from today; "12/19" is month/day in English when that is the only valid reading, else
 * day/month.
 */

export const LANGUAGES = ['es', 'en'] as const;
export type Language = (typeof LANGUAGES)[number];
export const INTENTS = ['browse', 'availability', 'book', 'my_bookings', 'pay_balance', 'cancel', 'human', 'other'] as const;
export type Intent = (typeof INTENTS)[number];

/** A place a message may name: a city, a country, or a tour (by a distinctive word of its title). */
export interface Destination {
  /** What the entity says: the city (of a tour match too) or the country's English name. */
  name: string;
  kind: 'city' | 'country' | 'tour';
  /** Lower-case, accent-free phrases that name it (whole words). */
  aliases: string[];
  tourCodes: string[];
}

export interface DateRange {
  /** YYYY-MM-DD, inclusive. */
  from: string;
  to: string;
  /** The words it came from. */
  text: string;
}

export interface Entities {
  dates: DateRange | null;
  partySize: number | null;
  destination: { name: string; kind: Destination['kind']; tourCodes: string[] } | null;
}

export interface Understanding {
  language: Language;
  intent: Intent;
  /** 0..1: how sure the rules are of the intent. */
  confidence: number;
  entities: Entities;
  /** Each intent's rule score (for the record and for tuning). */
  scores: Record<Exclude<Intent, 'other'>, number>;
}

export interface UnderstandOptions {
  now: Date;
  destinations: readonly Destination[];
  /** The customer's calendar (default UTC): "mañana" is tomorrow there. */
  timeZone?: string;
  /** The conversation's language so far, used when the text gives no clue (default en). */
  fallbackLanguage?: Language;
}

/** Below this rule score nothing was really asked: the intent is "other". */
const MIN_SCORE = 1.5;

// --- text -------------------------------------------------------------------------------------

/** Lower case, accents and ñ folded, punctuation to spaces (keeping / and - inside dates). */
export function normalize(text: string): string {
  return ` ${text.toLowerCase().normalize('NFD').replace(/[\u0300-\u036f]/g, '')
    .replace(/['’`]/g, '')
    .replace(/[^a-z0-9/\-\s]/g, ' ')
    .replace(/(^|\s)-+|-+(\s|$)/g, ' ')
    .replace(/\s+/g, ' ').trim()} `;
}

// --- language ---------------------------------------------------------------------------------

const ES_WORDS = new Set(('de la el que para por los las hay tienen tiene quiero quiera quisiera mi mis reserva reservas reservar una un con y es esta estan cuanto cuanta hola gracias buenas buenos dias '
  + 'manana somos seremos vamos personas excursion excursiones plazas como puedo me se al del lo su nos necesito cuando donde cual cuales que hoy pasado semana viene proxima proximo '
  + 'sitio lugar lugares quedan salida salidas fecha fechas pagar pago saldo falta queda cancelar anular devuelven dinero hablar persona alguien favor porfa si tambien pero muy '
  + 'algo ver mas sabado domingo lunes martes miercoles jueves viernes enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre ninos nino adultos '
  + 'jaja jajaja jeje vale claro bueno quisiera gustaria podria pueden puede estoy tengo tenemos queremos nuestra nuestro viaje tour tours ruta resto enlace cuesta precio '
  + 'recomiendas recomiendan recomiendame ensename muestrame busco informacion sobre hacer pasa pasame llame agente humano operador asesor catalogo apuntarnos apunto entradas').split(' '));
const EN_WORDS = new Set(('the is are do does you for my i to of on in and please hi hello hey thanks thank can want wanna book booking bookings what how have has we there any it this next '
  + 'tomorrow today tonight people person available availability seats spots left room space when where which would like id im is its dates days trip trips tours tour show tell about '
  + 'much still owe pay payment balance rest remaining cancel refund money back talk speak human agent someone somebody call me us our your with from just only family group party '
  + 'couple week weekend monday tuesday wednesday thursday friday saturday sunday january february march april june july august september october november december adults kids '
  + 'children good morning afternoon evening ok okay yes no thats great who won game last night will get be an at a need reserve reservation make sign up any anything recommend '
  + 'offer list visit looking things see check status confirmed confirmation didnt under send link settle outstanding amount by card put through connect representative customer service').split(' '));
/** Words both languages use often enough that they say nothing. */
const SHARED = new Set(['a', 'no', 'me', 'tour', 'tours', 'en', 'ok', 'si']);

export function detectLanguage(text: string, fallback: Language = 'en'): Language {
  const words = normalize(text).trim().split(' ').filter(Boolean);
  let es = /[ñ¿¡áéíóú]/i.test(text) ? 2 : 0;
  let en = 0;
  for (const w of words) {
    if (SHARED.has(w)) continue;
    if (ES_WORDS.has(w)) es += 1;
    if (EN_WORDS.has(w)) en += 1;
  }
  if (es === en) return fallback;
  return es > en ? 'es' : 'en';
}

// --- numbers ----------------------------------------------------------------------------------

const NUMBER_WORDS: Record<string, number> = {
  un: 1, uno: 1, una: 1, one: 1, dos: 2, two: 2, tres: 3, three: 3, cuatro: 4, four: 4, cinco: 5, five: 5, seis: 6, six: 6, siete: 7, seven: 7,
  ocho: 8, eight: 8, nueve: 9, nine: 9, diez: 10, ten: 10, once: 11, eleven: 11, doce: 12, twelve: 12, trece: 13, thirteen: 13, catorce: 14, fourteen: 14,
  quince: 15, fifteen: 15, veinte: 20, twenty: 20, treinta: 30, thirty: 30,
};
const NUM = `(\\d{1,2}|${Object.keys(NUMBER_WORDS).join('|')})`;

function toNumber(word: string): number | null {
  if (/^\d+$/.test(word)) return Number(word);
  return NUMBER_WORDS[word] ?? null;
}

// --- dates ------------------------------------------------------------------------------------

const MONTHS: Record<string, number> = {
  enero: 1, febrero: 2, marzo: 3, abril: 4, mayo: 5, junio: 6, julio: 7, agosto: 8, septiembre: 9, setiembre: 9, octubre: 10, noviembre: 11, diciembre: 12,
  january: 1, february: 2, march: 3, april: 4, may: 5, june: 6, july: 7, august: 8, september: 9, october: 10, november: 11, december: 12,
  jan: 1, feb: 2, apr: 4, jun: 6, jul: 7, aug: 8, sep: 9, sept: 9, oct: 10, nov: 11, dec: 12,
};
/** Month words that are also ordinary words ("may", "march"): only after a day or a preposition. */
const MONTH = `(${Object.keys(MONTHS).sort((a, b) => b.length - a.length).join('|')})`;
const FULL_MONTH = `(${Object.keys(MONTHS).filter((m) => m.length > 3 && m !== 'sept').join('|')})`;
const WEEKDAYS: Record<string, number> = {
  domingo: 0, lunes: 1, martes: 2, miercoles: 3, jueves: 4, viernes: 5, sabado: 6,
  sunday: 0, monday: 1, tuesday: 2, wednesday: 3, thursday: 4, friday: 5, saturday: 6,
};
const WEEKDAY = `(${Object.keys(WEEKDAYS).join('|')})`;
const ORD = '(?:st|nd|rd|th)?';

/** A calendar day as a number of days since 1970-01-01 (UTC arithmetic on plain dates). */
type Day = number;
const dayOf = (y: number, m: number, d: number): Day => Date.UTC(y, m - 1, d) / 86_400_000;
const isoOf = (day: Day) => new Date(day * 86_400_000).toISOString().slice(0, 10);
const ymdOf = (day: Day) => { const t = new Date(day * 86_400_000); return { y: t.getUTCFullYear(), m: t.getUTCMonth() + 1, d: t.getUTCDate(), wd: t.getUTCDay() }; };
const validDate = (y: number, m: number, d: number) => m >= 1 && m <= 12 && d >= 1 && d <= 31 && ymdOf(dayOf(y, m, d)).d === d;

/** One calendar-day formatter per time zone (building one costs more than the rest of understanding a message). */
const dayFormats = new Map<string, Intl.DateTimeFormat>();
function dayFormat(timeZone: string): Intl.DateTimeFormat {
  let f = dayFormats.get(timeZone);
  if (!f) dayFormats.set(timeZone, (f = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' })));
  return f;
}

function todayIn(now: Date, timeZone: string): Day {
  const parts = dayFormat(timeZone).formatToParts(now);
  const get = (t: string) => Number(parts.find((p) => p.type === t)!.value);
  return dayOf(get('year'), get('month'), get('day'));
}

/** The next day-and-month on or after today (this year or the next). */
function nextDayMonth(today: Day, m: number, d: number, year?: number): Day | null {
  const { y } = ymdOf(today);
  if (year !== undefined) return validDate(year, m, d) ? dayOf(year, m, d) : null;
  if (validDate(y, m, d) && dayOf(y, m, d) >= today) return dayOf(y, m, d);
  return validDate(y + 1, m, d) ? dayOf(y + 1, m, d) : null;
}

function fullYear(raw: string | undefined): number | undefined {
  if (!raw) return undefined;
  const n = Number(raw);
  return raw.length === 2 ? 2000 + n : n;
}

function wholeMonth(today: Day, m: number): [Day, Day] {
  const { y, m: cm } = ymdOf(today);
  const year = m >= cm ? y : y + 1;
  const first = dayOf(year, m, 1);
  const last = dayOf(m === 12 ? year + 1 : year, m === 12 ? 1 : m + 1, 1) - 1;
  return [m === cm ? today : first, last];
}

type DateRule = { re: RegExp; range: (m: RegExpExecArray, today: Day, lang: Language) => [Day, Day] | null };

const single = (day: Day | null): [Day, Day] | null => (day === null ? null : [day, day]);
const nextWeekday = (today: Day, wd: number): Day => today + (((wd - ymdOf(today).wd + 7) % 7) || 7);
const mondayAfter = (today: Day): Day => today + (((1 - ymdOf(today).wd + 7) % 7) || 7);

/** Tried in order on the normalized text; the first that matches is the message's date. */
const DATE_RULES: DateRule[] = [
  // 2027-01-10
  { re: /\b(20\d\d)-(\d{1,2})-(\d{1,2})\b/, range: (m) => single(validDate(+m[1], +m[2], +m[3]) ? dayOf(+m[1], +m[2], +m[3]) : null) },
  // del 10 al 12 de diciembre / from 10 to 12 december
  { re: new RegExp(`\\b(?:del?|from|between) (\\d{1,2})${ORD} (?:al|a|to|and|-) (\\d{1,2})${ORD} (?:de |of )?${MONTH}\\b`), range: (m, today) => {
    const a = nextDayMonth(today, MONTHS[m[3]], +m[1]); const b = a === null ? null : nextDayMonth(a, MONTHS[m[3]], +m[2]);
    return a !== null && b !== null ? [a, b] : null;
  } },
  // december 10 to 12 / dec 10-12
  { re: new RegExp(`\\b${MONTH} (\\d{1,2})${ORD} ?(?:-|to|until|through) ?(\\d{1,2})${ORD}\\b`), range: (m, today) => {
    const a = nextDayMonth(today, MONTHS[m[1]], +m[2]); const b = a === null ? null : nextDayMonth(a, MONTHS[m[1]], +m[3]);
    return a !== null && b !== null ? [a, b] : null;
  } },
  // 15 de marzo (de 2027) / 28th of december / 3 jan
  { re: new RegExp(`\\b(\\d{1,2})${ORD} (?:de |of )?${MONTH}(?: (?:de |del )?(20\\d\\d))?\\b`), range: (m, today) => single(nextDayMonth(today, MONTHS[m[2]], +m[1], fullYear(m[3]))) },
  // march 15 / december 15th, 2027 / jan 3
  { re: new RegExp(`\\b${MONTH} (\\d{1,2})${ORD}(?:,? (20\\d\\d))?\\b`), range: (m, today) => single(nextDayMonth(today, MONTHS[m[1]], +m[2], fullYear(m[3]))) },
  // 20/12, 12/19, 20/12/2026
  { re: /\b(\d{1,2})\/(\d{1,2})(?:\/(\d{2}|\d{4}))?\b/, range: (m, today, lang) => {
    const a = +m[1]; const b = +m[2];
    const monthFirst = lang === 'en' ? a <= 12 : b > 12 && a <= 12;
    const [mo, d] = monthFirst ? [a, b] : [b, a];
    return single(nextDayMonth(today, mo, d, fullYear(m[3])));
  } },
  { re: /\b(pasado manana|day after tomorrow)\b/, range: (_m, today) => [today + 2, today + 2] },
  { re: /\b(manana|tomorrow)\b(?! (?:por la|de la))/, range: (_m, today, _l) => [today + 1, today + 1] },
  { re: /\b(hoy|today|tonight|esta noche|esta tarde|esta manana|this (?:morning|afternoon|evening))\b/, range: (_m, today) => [today, today] },
  // dentro de 3 dias / en 3 dias / in 3 days
  { re: new RegExp(`\\b(?:dentro de|en|in) ${NUM} (?:dias|days)\\b`), range: (m, today) => { const n = toNumber(m[1]); return n === null ? null : [today + n, today + n]; } },
  // el viernes de la semana que viene / friday next week
  { re: new RegExp(`\\b${WEEKDAY} (?:de la semana que viene|de la proxima semana|next week)\\b`), range: (m, today) => { const d = mondayAfter(today) + ((WEEKDAYS[m[1]] + 6) % 7); return [d, d]; } },
  // el viernes / this friday / next friday / el proximo sabado
  { re: new RegExp(`\\b${WEEKDAY}\\b`), range: (m, today) => { const d = nextWeekday(today, WEEKDAYS[m[1]]); return [d, d]; } },
  { re: /\b(fin de semana|finde|weekend)\b/, range: (_m, today) => {
    const wd = ymdOf(today).wd;
    if (wd === 6) return [today, today + 1];
    if (wd === 0) return [today, today];
    const sat = nextWeekday(today, 6); return [sat, sat + 1];
  } },
  { re: /\b(semana que viene|proxima semana|semana proxima|next week)\b/, range: (_m, today) => { const mon = mondayAfter(today); return [mon, mon + 6]; } },
  { re: /\b(esta semana|this week)\b/, range: (_m, today) => { const wd = ymdOf(today).wd; return [today, today + ((7 - wd) % 7)]; } },
  { re: /\b(mes que viene|proximo mes|next month)\b/, range: (_m, today) => { const { m } = ymdOf(today); return wholeMonth(today, (m % 12) + 1); } },
  // en enero / in january / para marzo
  { re: new RegExp(`\\b(?:en|para|durante|in|for|during|by|a principios de|a finales de|early|late) ${FULL_MONTH}\\b`), range: (m, today) => wholeMonth(today, MONTHS[m[1]]) },
  // the 14th / el dia 14
  { re: /\b(?:the|el dia|el) (\d{1,2})(?:st|nd|rd|th)?\b(?! (?:de |of )?(?:personas|people|adults|adultos|pax|plazas))/, range: (m, today) => {
    const d = +m[1]; if (d < 1 || d > 31) return null;
    const { y, m: mo } = ymdOf(today);
    if (validDate(y, mo, d) && dayOf(y, mo, d) >= today) return [dayOf(y, mo, d), dayOf(y, mo, d)];
    const [ny, nm] = mo === 12 ? [y + 1, 1] : [y, mo + 1];
    return validDate(ny, nm, d) ? [dayOf(ny, nm, d), dayOf(ny, nm, d)] : null;
  } },
];

/** The message's date or range, and the text without it (so "in 3 days" is not a party of 3). */
export function findDates(norm: string, today: Day, lang: Language): { dates: DateRange | null; rest: string } {
  for (const rule of DATE_RULES) {
    const m = rule.re.exec(norm);
    if (!m) continue;
    const range = rule.range(m, today, lang);
    if (!range) continue;
    return { dates: { from: isoOf(range[0]), to: isoOf(range[1]), text: m[0].trim() }, rest: norm.slice(0, m.index) + ' ' + norm.slice(m.index + m[0].length) };
  }
  return { dates: null, rest: norm };
}

// --- party size -------------------------------------------------------------------------------

const ADULT = '(?:adultos?|adults?|mayores|grown ?ups)';
const CHILD = '(?:ninos?|ninas?|children|child|kids?|menores|bebes?|babies|baby|infants?)';
const PAX_UNIT = '(?:personas|people|persons|pax|plazas|entradas|tickets?|spots?|seats?|lugares|places|travell?ers|viajeros|adultos|adults|of us|de nosotros|pasajeros|passengers)';
const COMPANION = '(?:pareja|esposa|esposo|marido|mujer|novia|novio|amigo|amiga|hermano|hermana|madre|padre|mama|papa|hijo|hija|wife|husband|partner|girlfriend|boyfriend|friend|son|daughter|mother|father|mom|mum|dad|brother|sister)';

const PARTY_RULES: Array<{ re: RegExp; size: (m: RegExpExecArray) => number | null }> = [
  { re: new RegExp(`\\b${NUM} ${ADULT}(?: y| and|,)? ${NUM} ${CHILD}`), size: (m) => add(toNumber(m[1]), toNumber(m[2])) },
  { re: new RegExp(`\\b${NUM} ${CHILD}(?: y| and|,)? ${NUM} ${ADULT}`), size: (m) => add(toNumber(m[1]), toNumber(m[2])) },
  { re: new RegExp(`\\b(?:group of|grupo de|family of|familia de|party of|somos|seremos|vamos a ser|vamos|we are|were|there are|hay) ${NUM}\\b`), size: (m) => toNumber(m[1]) },
  { re: new RegExp(`\\b${NUM} ${PAX_UNIT}`), size: (m) => toNumber(m[1]) },
  { re: new RegExp(`\\b(?:mi ${COMPANION} y yo|yo y mi ${COMPANION}|my ${COMPANION} and (?:i|me)|me and my ${COMPANION}|(?:a|una) (?:couple|pareja)|(?:we are|were|somos) (?:a )?(?:couple|pareja))\\b`), size: () => 2 },
  { re: /\b(?:solo yo|yo solo|yo sola|just me|only me|just myself|para una persona|for one person|for 1 person|alone|solo para mi)\b/, size: () => 1 },
  // "para una familia" is no party of one: Spanish articles are not numbers here.
  { re: new RegExp(`\\b(?:para|for) (?!un\\b|una\\b|uno\\b)${NUM}\\b(?! (?:de |of )?(?:dias|days|horas|hours|noches|nights|am|pm|h\\b|semanas|weeks|meses|months|${FULL_MONTH}))`), size: (m) => toNumber(m[1]) },
];

function add(a: number | null, b: number | null): number | null {
  return a === null || b === null ? null : a + b;
}

export function findPartySize(rest: string): number | null {
  for (const rule of PARTY_RULES) {
    const m = rule.re.exec(rest);
    if (!m) continue;
    const n = rule.size(m);
    if (n !== null && n >= 1 && n <= 99) return n;
  }
  return null;
}

// --- destinations -----------------------------------------------------------------------------

export function findDestination(norm: string, destinations: readonly Destination[]): Entities['destination'] {
  const rank = { tour: 0, city: 1, country: 2 } as const;
  let best: { d: Destination; len: number } | undefined;
  for (const d of destinations) {
    for (const alias of d.aliases) {
      if (!alias || !norm.includes(` ${alias} `)) continue;
      if (!best || rank[d.kind] < rank[best.d.kind] || (rank[d.kind] === rank[best.d.kind] && alias.length > best.len)) best = { d, len: alias.length };
    }
  }
  return best ? { name: best.d.name, kind: best.d.kind, tourCodes: [...best.d.tourCodes] } : null;
}

// --- intents ----------------------------------------------------------------------------------

type Cue = [RegExp, number];

/** Weighted cues per intent, on the normalized text. */
const CUES: Record<Exclude<Intent, 'other'>, Cue[]> = {
  human: [
    [/\b(hablar|habla|hablo|chatear|comunicarme|contactar) con (una persona|un humano|un agente|alguien|un operador|un asesor|una persona real|atencion)/, 4],
    [/\b(persona real|un humano|humano|agente|operador|asesor|representante|alguien del equipo|alguien de ustedes)\b/, 2.5],
    [/\batencion al cliente|servicio al cliente|atencion personalizada\b/, 3],
    [/\bpasa(me|s)? con\b|\bque me llame\b|\bllamenme\b|\bllamame\b/, 3],
    [/\b(talk|speak|chat) (to|with) (a |an |some |your )?(person|human|agent|someone|somebody|representative|operator|real person|staff|team)/, 4],
    [/\b(human|real person|agents?|representative|operator|customer service|customer support|someone from|live person|staff member)\b/, 2.5],
    [/\bcall me\b|\bput me through\b|\bconnect me\b|\btransfer me\b/, 2.5],
    [/\b(useless|inutil|no entiendes|you dont understand)\b/, 1],
    // The one word the bot's own answers tell customers to write.
    [/^ (una )?(persona|person|humano|human|agente|agent|operador|operator) $/, 4],
  ],
  cancel: [
    [/\b(cancel\w*|anul\w*)\b/, 4],
    [/\b(refund\w*|reembols\w*|devuelv\w*|devolver|devolucion|money back|dinero de vuelta)\b/, 1.5],
    [/\b(no podemos ir|no puedo ir|cant make it|cant travel|cannot travel|cant go|no vamos a poder)\b/, 1.5],
  ],
  pay_balance: [
    [/\b(pag\w*|pay|paying|payment|abonar)\b/, 1.5],
    [/\b(saldo|balance|resto|rest|remaining|outstanding|owe|pendiente|liquidar|settle|lo que (me )?(falta|queda)|what i owe)\b/, 2],
    [/\b(enlace|link) de pago\b|\bpayment link\b|\blink to pay\b/, 3],
    [/\b(me falta|still owe|i owe|queda por pagar|falta por pagar|left to pay)\b/, 1.5],
  ],
  my_bookings: [
    [/\b(mi|mis|my|nuestra|nuestras|our) (reserva|reservas|reservacion|booking|bookings|reservation|reservations|tour|viaje|trip|excursion)\b/, 2.5],
    [/\b(estado|status|confirmad\w*|confirmed|confirmation|confirmacion|meeting point|punto de encuentro|a que hora|what time|voucher|comprobante)\b/, 1.5],
    [/\b(a nombre de|under the name|under)\b/, 1],
    [/\bno (me )?(llego|ha llegado|encuentro)\b|\bdidnt (get|receive)\b|\bnot received\b|\bcant find\b|\bhavent received\b/, 1.5],
    [/\b(revis\w*|check)\b/, 0.5],
    [/\b(ver|see|show) (mis|my) /, 1],
  ],
  book: [
    [/\bbook\b|\breserve\b|\bmake a reservation\b|\bhacer una reserva\b|\bsign (me |us )?up\b/, 3],
    [/\breserv(ar|o|ame|arme|arnos|amos|emos|en|a(?=r))\b/, 3],
    [/\b(apuntar\w*|apunto)\b/, 2.5],
    [/\b(comprar|buy|purchase)\b/, 2],
    [/\b(tickets?|entradas)\b/, 0.5],
    [/\blets book\b|\bquiero ir\b|\bwe want to go\b/, 1],
  ],
  availability: [
    [/\b(disponib\w*|available|availability)\b/, 3],
    [/\b(plazas?|lugar(es)?|sitio|espacio|space|room|spots?|seats?|openings?|cupo)\b/, 1.5],
    [/\b(quedan|left|libres?|still get|hay (sitio|plazas|lugar|cupo))\b/, 1.5],
    [/\b(cuando (es|sale|hay)|que (dias|fechas)|what (dates|days)|when (is|are|does)|next departure|proxima salida|que dia)\b/, 3],
    [/\b(salidas?|departures?|sale|runs?|do you run|operan)\b/, 1],
  ],
  browse: [
    [/\b(que|what|which) (tours|excursiones|viajes|trips|actividades|activities|experiencias|experiences)\b/, 3],
    [/\b(tours?|excursion(es)?|viajes?|trips?|actividades|activities|catalogo|catalog(ue)?|things to do|que hacer|para hacer|experiencias)\b/, 1],
    [/\b(recomien\w*|recommend\w*|suggest\w*|sugier\w*|sugerencias)\b/, 2.5],
    [/\b(ofrec\w*|offer\w*|tienen|do you have|show me|ensena\w*|muestra\w*|list|busco|looking for|tell me about|informacion|info)\b/, 1.5],
    [/\b(cuanto cuesta|cuanto vale|how much is|how much does|precio|price|prices|cost)\b/, 1.5],
    [/\b(visit\w*|conocer)\b/, 1.5],
    // "ver tours", "see tours", "show me the trips": a look at the catalog.
    [/\b(ver|see|view|mostrar|show|browse)\b.{0,20}\b(tours?|excursion(es)?|actividades|activities|trips?|viajes|catalog\w*)\b/, 1.5],
    // The whole message is the catalog's name: "tours", "excursiones por favor", "the tours?".
    [/^\s*(los |las |the |all )?(tours?|excursion(es)?|catalogo|catalog(ue)?|actividades|activities)( please| por favor| pls)?\s*$/, 1],
  ],
};

/** Chit-chat we recognise as such: "other" with confidence, not a misunderstanding. */
const SMALL_TALK = /\b(hola|hello|hi|hey|buenas|buenos dias|good (morning|afternoon|evening)|gracias|thanks|thank you|ok|okay|vale|perfecto|great|adios|bye|jaja\w*|haha\w*|que tal|how are you)\b/;

export function scoreIntents(norm: string, entities: Entities): Record<Exclude<Intent, 'other'>, number> {
  const scores = {} as Record<Exclude<Intent, 'other'>, number>;
  for (const [intent, cues] of Object.entries(CUES) as Array<[Exclude<Intent, 'other'>, Cue[]]>) {
    scores[intent] = cues.reduce((sum, [re, w]) => sum + (re.test(norm) ? w : 0), 0);
  }
  // What a message names hints at what it asks: a date or party is about departures.
  if (entities.dates) scores.availability += entities.destination ? 1.5 : 1;
  if (entities.partySize) { scores.availability += 0.5; scores.book += 0.5; }
  if (entities.destination) scores.browse += 0.5;
  return scores;
}

/** Ties go to the intent that matters more to get right (a person, money, then the rest). */
const PRIORITY: Array<Exclude<Intent, 'other'>> = ['human', 'cancel', 'pay_balance', 'my_bookings', 'book', 'availability', 'browse'];

export function understand(text: string, options: UnderstandOptions): Understanding {
  const language = detectLanguage(text, options.fallbackLanguage ?? 'en');
  const norm = normalize(text);
  const today = todayIn(options.now, options.timeZone ?? 'UTC');
  const { dates, rest } = findDates(norm, today, language);
  const entities: Entities = { dates, partySize: findPartySize(rest), destination: findDestination(norm, options.destinations) };
  const scores = scoreIntents(norm, entities);
  const ranked = [...PRIORITY].sort((a, b) => scores[b] - scores[a] || PRIORITY.indexOf(a) - PRIORITY.indexOf(b));
  const [top, second] = [scores[ranked[0]], scores[ranked[1]]];
  if (top < MIN_SCORE) {
    // Nothing asked: small talk is understood as such; anything else is a guess.
    const confidence = SMALL_TALK.test(norm) ? 0.9 : norm.trim().length ? 0.4 : 0;
    return { language, intent: 'other', confidence, entities, scores };
  }
  const strength = Math.min(1, top / 4);
  const margin = (top - second) / top;
  const confidence = Math.round((0.3 + 0.7 * strength * (0.4 + 0.6 * margin)) * 100) / 100;
  return { language, intent: ranked[0], confidence, entities, scores };
}
