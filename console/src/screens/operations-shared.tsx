/**
 * What the operations screens (Today, Calendar, Manifest) share: the answers' types (from the
 * generated OpenAPI types), the words for departure statuses and pax types, and a seat-load bar
 * light enough to draw a thousand times in a month (a plain element, no component tree per bar).
 */
import type { operations } from '../api/schema';
import { defineMessages } from '../i18n';

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
  return (
    <div className="st-load" {...(decorative ? { 'aria-hidden': true } : { role: 'img', 'aria-label': label })} style={{ width }}>
      <div className="st-load-sold" style={{ width: `${soldPct}%` }} />
      <div className="st-load-held" style={{ width: `${heldPct}%` }} />
    </div>
  );
}
