/**
 * The answer to a staff member's WhatsApp message (a number in `staff_phones`): the command
 * (domain/staff-commands.ts), the branches their role may see and the figures
 * (models/staff-reports.ts), written in the language the command was asked in. Each branch's
 * "today", "this week" and "this month" are its own, in its time zone. Roles without access to
 * the figures (customers, partners, marketers, a deactivated user) are refused politely, as is a
 * branch-scoped user asking for another branch.
 */
import type { Knex } from 'knex';
import { parseStaffCommand, periodRange, type StaffCommand, type StaffPeriod } from '../../domain/staff-commands';
import { alertsFor, bookingsOf, branchesInScope, commissionsOf, salesOf, staffByPhone, type BranchRow } from '../../models/staff-reports';

type Lang = 'es' | 'en';

const PERIOD_NAMES: Record<Lang, Record<StaffPeriod, string>> = {
  es: { today: 'hoy', yesterday: 'ayer', week: 'esta semana', month: 'este mes' },
  en: { today: 'today', yesterday: 'yesterday', week: 'this week', month: 'this month' },
};

const HELP: Record<Lang, string> = {
  es: 'Comandos de equipo:\n• ventas [hoy|ayer|semana|mes] [SUCURSAL]\n• reservas [hoy|ayer|semana|mes] [SUCURSAL]\n• comisiones [hoy|ayer|semana|mes] [SUCURSAL]\n• alertas\nEjemplo: ventas hoy MAD',
  en: 'Staff commands:\n• sales [today|yesterday|week|month] [BRANCH]\n• bookings [today|yesterday|week|month] [BRANCH]\n• commissions [today|yesterday|week|month] [BRANCH]\n• alerts\nExample: sales today MAD',
};

/** Formats minor units in a currency for a language (JPY has no minor unit). */
export function formatMoney(minor: number, currency: string, language: Lang): string {
  const digits = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
  return new Intl.NumberFormat(language === 'es' ? 'es-ES' : 'en-GB', { style: 'currency', currency }).format(minor / 10 ** digits);
}

const MAX_BRANCH_LINES = 15;

export interface StaffAnswer {
  text: string;
  language: Lang;
  command: StaffCommand['kind'] | 'refused';
}

/** The answer to a message from an allowlisted phone (undefined when the phone is not on the allowlist). */
export async function answerStaffMessage(knex: Knex, phone: string, text: string, now: Date): Promise<StaffAnswer | undefined> {
  const member = await staffByPhone(knex, phone);
  if (!member) return undefined;
  const command = parseStaffCommand(text);
  const lang = command.language;
  if (command.kind === 'help') {
    const prefix = command.unknown ? (lang === 'es' ? `No entiendo «${command.unknown}».\n` : `I don't understand "${command.unknown}".\n`) : '';
    return { text: prefix + HELP[lang], language: lang, command: 'help' };
  }
  const scope = await branchesInScope(knex, member, command.kind === 'alerts' ? null : command.branch);
  if (!scope.ok) {
    const why = {
      no_access: lang === 'es' ? `Lo siento, ${member.name}: tu perfil (${member.role}) no tiene acceso a estas cifras.` : `Sorry, ${member.name}: your role (${member.role}) has no access to these figures.`,
      no_branch: lang === 'es' ? 'Lo siento: tu usuario no tiene una sucursal asignada.' : 'Sorry: your user has no branch assigned.',
      other_branch: lang === 'es' ? `Lo siento: solo puedes consultar la sucursal ${scope.own}, no ${scope.asked}.` : `Sorry: you can only see branch ${scope.own}, not ${scope.asked}.`,
      unknown_branch: lang === 'es' ? `No hay ninguna sucursal ${scope.asked}.` : `There is no branch ${scope.asked}.`,
    }[scope.why];
    return { text: why, language: lang, command: 'refused' };
  }

  if (command.kind === 'alerts') {
    const alerts = await alertsFor(knex, member, now);
    const lines = [lang === 'es' ? `Aprobaciones pendientes: ${alerts.pendingApprovals}` : `Pending approvals: ${alerts.pendingApprovals}`];
    if (alerts.security) {
      lines.push(lang === 'es' ? `Alertas de seguridad (7 días): ${alerts.security.lastWeek}` : `Security alerts (7 days): ${alerts.security.lastWeek}`);
      for (const a of alerts.security.latest) lines.push(`• [${a.severity}] ${a.summary.slice(0, 160)}`);
    }
    return { text: (lang === 'es' ? 'Alertas\n' : 'Alerts\n') + lines.join('\n'), language: lang, command: 'alerts' };
  }

  const title = {
    sales: lang === 'es' ? 'Ventas' : 'Sales',
    bookings: lang === 'es' ? 'Reservas' : 'Bookings',
    commissions: lang === 'es' ? 'Comisiones de socios' : 'Partner commissions',
  }[command.kind];
  const lines: string[] = [];
  let quiet = 0;
  for (const branch of scope.branches) {
    const line = await branchLine(knex, command.kind, branch, command.period, now, lang);
    // Everything for one branch asked by name; the branches with something to say when all are shown.
    if (line.empty && scope.branches.length > 1) {
      quiet++;
      continue;
    }
    if (lines.length < MAX_BRANCH_LINES) lines.push(line.text);
  }
  if (!lines.length) lines.push(lang === 'es' ? 'Sin movimientos.' : 'Nothing yet.');
  if (quiet && lines.length) lines.push(lang === 'es' ? `(${quiet} sucursales sin movimientos)` : `(${quiet} branches with nothing)`);
  return { text: `${title} ${PERIOD_NAMES[lang][command.period]}:\n${lines.join('\n')}`, language: lang, command: command.kind };
}

async function branchLine(knex: Knex, kind: 'sales' | 'bookings' | 'commissions', branch: BranchRow, period: StaffPeriod, now: Date, lang: Lang): Promise<{ text: string; empty: boolean }> {
  const range = periodRange(period, now, branch.timezone);
  const head = `• ${branch.code}`;
  if (kind === 'sales') {
    const sales = await salesOf(knex, branch.id, range);
    if (!sales.length) return { text: `${head}: ${formatMoney(0, branch.currency, lang)}`, empty: true };
    return {
      text: sales.map((s) => {
        const detail = lang === 'es'
          ? `${s.payments} ${s.payments === 1 ? 'cobro' : 'cobros'}${s.refunds ? `, devoluciones ${formatMoney(s.refundedMinor, s.currency, lang)}` : ''}`
          : `${s.payments} ${s.payments === 1 ? 'payment' : 'payments'}${s.refunds ? `, refunds ${formatMoney(s.refundedMinor, s.currency, lang)}` : ''}`;
        return `${head}: ${formatMoney(s.netMinor, s.currency, lang)} (${detail})`;
      }).join('\n'),
      empty: false,
    };
  }
  if (kind === 'bookings') {
    const b = await bookingsOf(knex, branch.id, range);
    const value = b.soldValue.map((v) => formatMoney(v.minor, v.currency, lang)).join(' + ') || formatMoney(0, branch.currency, lang);
    const text = lang === 'es'
      ? `${head}: ${b.made} nuevas, ${b.sold} vendidas (${b.pax} pax, ${value})${b.cancelled ? `, ${b.cancelled} canceladas` : ''}`
      : `${head}: ${b.made} new, ${b.sold} sold (${b.pax} pax, ${value})${b.cancelled ? `, ${b.cancelled} cancelled` : ''}`;
    return { text, empty: b.made === 0 };
  }
  const c = await commissionsOf(knex, branch.id, range);
  if (!c.length) return { text: `${head}: ${formatMoney(0, branch.currency, lang)}`, empty: true };
  return {
    text: c.map((x) => `${head}: ${formatMoney(x.minor, x.currency, lang)} (${x.bookings} ${lang === 'es' ? (x.bookings === 1 ? 'reserva' : 'reservas') : (x.bookings === 1 ? 'booking' : 'bookings')})`).join('\n'),
    empty: false,
  };
}
