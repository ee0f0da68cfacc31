/**
 * What the operations screens (Today, Calendar, Manifest) share: the answers' types (from the
 * generated OpenAPI types), the words for departure statuses and pax types, and a seat-load bar
 * light enough to draw a thousand times in a month (a plain element, no component tree per bar).
 */
import type { QueryClient } from '@tanstack/react-query';
import type { operations } from '../api/schema';
import { api, ok } from '../api/client';
import { manifestScreen } from '../screens';
import { defineMessages, type Lang } from '../i18n';

export type OkOf<O extends keyof operations> = operations[O] extends { responses: { 200: { content: { 'application/json': infer B } } } } ? B : never;

export type TodayBoard = OkOf<'consoleToday'>;
export type CalendarAnswer = OkOf<'consoleCalendar'>;
export type ManifestAnswer = OkOf<'getManifest'>;
export type DepartureStatus = TodayBoard['departures'][number]['status'];

export const operationsMessages = defineMessages({
  en: {
    scheduled: 'Scheduled', guaranteed: 'Guaranteed', closed: 'Closed', cancelled: 'Cancelled', departed: 'Departed', completed: 'Completed',
    adult: 'Adults', child: 'Children', infant: 'Infants',
    loadLabel: '{sold} sold, {held} held of {capacity} seats',
    errorTitle: 'Could not load this page',
  },
  es: {
    scheduled: 'Programada', guaranteed: 'Garantizada', closed: 'Cerrada', cancelled: 'Cancelada', departed: 'En curso', completed: 'Terminada',
    adult: 'Adultos', child: 'Niños', infant: 'Bebés',
    loadLabel: '{sold} vendidas, {held} retenidas de {capacity} plazas',
    errorTitle: 'No se pudo cargar esta página',
  },
});

export const STATUS_COLOR: Record<DepartureStatus, string> = {
  scheduled: 'blue', guaranteed: 'teal', closed: 'gray', cancelled: 'red', departed: 'violet', completed: 'gray',
};

/**
 * Sold (solid) and held (lighter) seats as shares of capacity. role="img" with the numbers in
 * words, so a screen reader hears the load and not two unlabelled rectangles.
 */
export function LoadBar({ capacity, held, sold, label, decorative, width = '100%' }: {
  capacity: number; held: number; sold: number; width?: number | string;
  /** A label for the bar, or decorative when the numbers are already in the text beside it. */
} & ({ label: string; decorative?: never } | { label?: never; decorative: true })) {
  const soldPct = capacity ? Math.min(100, (sold / capacity) * 100) : 0;
  const heldPct = capacity ? Math.min(100 - soldPct, (held / capacity) * 100) : 0;
  // One element, its shares drawn by a gradient: a month's calendar draws a thousand of these.
  const background = `linear-gradient(to right, var(--mantine-color-teal-8) 0 ${soldPct}%, var(--mantine-color-yellow-6) ${soldPct}% ${soldPct + heldPct}%, var(--mantine-color-gray-2) ${soldPct + heldPct}% 100%)`;
  return <div className="st-load" {...(decorative ? { 'aria-hidden': true } : { role: 'img', 'aria-label': label })} style={{ width, background }} />;
}

const formats = new Map<string, Intl.DateTimeFormat>();
/** A date formatter made once per language and options: building one costs more than formatting with it. */
export function dateFormat(lang: Lang, opts: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const key = `${lang}|${JSON.stringify(opts)}`;
  let f = formats.get(key);
  if (!f) formats.set(key, (f = new Intl.DateTimeFormat(lang === 'es' ? 'es-ES' : 'en-US', opts)));
  return f;
}

/** The manifest's query, shared so a screen can fetch it ahead of a likely click (see prefetchManifest). */
export function manifestQuery(departureId: string, lang: Lang) {
  return {
    queryKey: ['manifest', departureId, lang] as const,
    queryFn: () => ok(api.GET('/api/v1/departures/{id}/manifest', { params: { path: { id: departureId }, query: { lang } } })),
  };
}

/**
 * When a person shows they are about to open a manifest (its departure's panel, a hover on its
 * link), its code and data are fetched so the page appears at once rather than after two round trips.
 */
export function prefetchManifest(queryClient: QueryClient, departureId: string, lang: Lang): void {
  void manifestScreen.preload();
  void queryClient.prefetchQuery({ ...manifestQuery(departureId, lang), staleTime: 10_000 });
}
