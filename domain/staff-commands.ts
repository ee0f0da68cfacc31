/**
 * Staff commands on WhatsApp (numbers in `staff_phones`): short questions for the figures, in
 * Spanish or English, and what period they mean. Pure: parsing text, and turning a period into
 * the instants it spans in a branch's time zone (the caller passes "now").
 *
 *   sales [today|yesterday|week|month] [BRANCH]      ventas [hoy|ayer|semana|mes] [SUCURSAL]
 *   bookings [today|yesterday|week|month] [BRANCH]   reservas [hoy|ayer|semana|mes] [SUCURSAL]
 *   commissions [today|yesterday|week|month] [BRANCH] comisiones [...]
 *   alerts                                            alertas
 *   anything else: help                               ayuda
 *
 * Defaults: sales and bookings today, commissions this month. "This week" starts on Monday.
 */

export const STAFF_PERIODS = ['today', 'yesterday', 'week', 'month'] as const;
export type StaffPeriod = (typeof STAFF_PERIODS)[number];

export type StaffCommand =
  | { kind: 'sales' | 'bookings' | 'commissions'; period: StaffPeriod; branch: string | null; language: 'es' | 'en' }
  | { kind: 'alerts'; language: 'es' | 'en' }
  | { kind: 'help'; language: 'es' | 'en'; unknown: string | null };

const COMMANDS: Record<string, { kind: 'sales' | 'bookings' | 'commissions' | 'alerts' | 'help'; language: 'es' | 'en' }> = {
  sales: { kind: 'sales', language: 'en' }, sale: { kind: 'sales', language: 'en' },
  ventas: { kind: 'sales', language: 'es' }, venta: { kind: 'sales', language: 'es' },
  bookings: { kind: 'bookings', language: 'en' }, booking: { kind: 'bookings', language: 'en' },
  reservas: { kind: 'bookings', language: 'es' }, reserva: { kind: 'bookings', language: 'es' },
  commissions: { kind: 'commissions', language: 'en' }, commission: { kind: 'commissions', language: 'en' },
  comisiones: { kind: 'commissions', language: 'es' }, comision: { kind: 'commissions', language: 'es' },
  alerts: { kind: 'alerts', language: 'en' }, alert: { kind: 'alerts', language: 'en' },
  alertas: { kind: 'alerts', language: 'es' }, alerta: { kind: 'alerts', language: 'es' },
  help: { kind: 'help', language: 'en' }, ayuda: { kind: 'help', language: 'es' },
};

const PERIODS: Record<string, StaffPeriod> = {
  today: 'today', hoy: 'today', yesterday: 'yesterday', ayer: 'yesterday',
  week: 'week', semana: 'week', month: 'month', mes: 'month',
};
/** Words that may stand around a period and mean nothing by themselves ("this week", "de este mes"). */
const FILLER = new Set(['this', 'the', 'of', 'for', 'esta', 'este', 'de', 'del', 'la', 'el', 'en', 'please', 'por', 'favor']);
const ENGLISH_HINTS = new Set(['hi', 'hello', 'what', 'how', 'please', 'the', 'this', 'today', 'yesterday', 'week', 'month']);

const fold = (s: string) => s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase();

/** What a staff member's message asks. Anything not understood is help (in the language it looks like). */
export function parseStaffCommand(text: string): StaffCommand {
  const words = fold(text).replace(/[^a-z0-9\s/-]/g, ' ').split(/\s+/).filter(Boolean);
  const first = words[0] ? COMMANDS[words[0]] : undefined;
  const guess: 'es' | 'en' = words.some((w) => ENGLISH_HINTS.has(w) || (COMMANDS[w]?.language === 'en')) ? 'en' : 'es';
  if (!first) return { kind: 'help', language: guess, unknown: text.trim().slice(0, 60) || null };
  if (first.kind === 'help') return { kind: 'help', language: first.language, unknown: null };
  if (first.kind === 'alerts') return { kind: 'alerts', language: first.language };
  let period: StaffPeriod | null = null;
  let branch: string | null = null;
  for (const w of words.slice(1)) {
    if (PERIODS[w] && !period) period = PERIODS[w];
    else if (FILLER.has(w)) continue;
    else if (!branch && /^[a-z0-9-]{2,16}$/.test(w)) branch = w.toUpperCase();
    else return { kind: 'help', language: first.language, unknown: text.trim().slice(0, 60) };
  }
  return { kind: first.kind, period: period ?? (first.kind === 'commissions' ? 'month' : 'today'), branch, language: first.language };
}

/** The local calendar date (YYYY-MM-DD) of an instant in a time zone. */
function localDate(at: Date, timeZone: string): { y: number; m: number; d: number; weekday: number } {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', weekday: 'short' }).formatToParts(at);
  const get = (t: string) => parts.find((p) => p.type === t)!.value;
  const weekday = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'].indexOf(get('weekday'));
  return { y: Number(get('year')), m: Number(get('month')), d: Number(get('day')), weekday };
}

function offsetMs(at: Date, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }).formatToParts(at);
  const get = (t: string) => Number(parts.find((p) => p.type === t)!.value);
  return Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second')) - Math.floor(at.getTime() / 1000) * 1000;
}

/** The instant local midnight starts a calendar day (y, m, d may overflow: Date.UTC normalises them). */
function midnight(y: number, m: number, d: number, timeZone: string): Date {
  const guess = new Date(Date.UTC(y, m - 1, d));
  let at = guess;
  for (let i = 0; i < 2; i++) at = new Date(guess.getTime() - offsetMs(at, timeZone));
  return at;
}

export interface PeriodRange {
  /** Inclusive. */
  from: Date;
  /** Exclusive (now, for periods that have not ended). */
  to: Date;
  /** The first local day of the period (YYYY-MM-DD), for the answer. */
  firstDay: string;
}

/** The instants a period spans in a time zone: today and this week/month up to now; yesterday whole. */
export function periodRange(period: StaffPeriod, now: Date, timeZone: string): PeriodRange {
  const { y, m, d, weekday } = localDate(now, timeZone);
  const day = (dd: number, mm = m) => {
    const at = new Date(Date.UTC(y, mm - 1, dd));
    return at.toISOString().slice(0, 10);
  };
  switch (period) {
    case 'today': return { from: midnight(y, m, d, timeZone), to: now, firstDay: day(d) };
    case 'yesterday': return { from: midnight(y, m, d - 1, timeZone), to: midnight(y, m, d, timeZone), firstDay: day(d - 1) };
    case 'week': return { from: midnight(y, m, d - weekday, timeZone), to: now, firstDay: day(d - weekday) };
    case 'month': return { from: midnight(y, m, 1, timeZone), to: now, firstDay: day(1) };
  }
}
