/**
 * A departure's manifest: passengers grouped by pax type with their booking's contact, needs
 * and balance due; check-in and no-show per guest (stored by the API and put on the booking's
 * timeline; other screens hear of it through the live stream); a print view and a CSV export.
 * Accountants read it without the check-in buttons. A 60-seat departure is 60 memoised rows:
 * a check-in re-renders the row it changed, not the manifest.
 */
import { memo, useCallback, useMemo, useState } from 'react';
import { Alert, Anchor, Badge, Button, Center, Group, Loader, SimpleGrid, Stack, Text, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link } from 'wouter';
import { api, ok } from '../api/client';
import { authedFetch } from '../api/session';
import { can, useAuth } from '../auth';
import { formatDate, formatMoney, useLang, useT, type Lang } from '../i18n';
import { manifestMessages } from './manifest-messages';
import { dateFormat, manifestQuery, operationsMessages, STATUS_COLOR, type ManifestAnswer } from './operations-shared';
import './operations.css';

type Booking = ManifestAnswer['bookings'][number];
type Passenger = Booking['passengers'][number];
type CheckinState = Passenger['checkIn']['state'];
type T = ReturnType<typeof useT<typeof manifestMessages.en>>;

const PAX_ORDER = ['adult', 'child', 'infant'] as const;
const STATE_LABEL: Record<CheckinState, 'statePending' | 'stateCheckedIn' | 'stateNoShow'> = {
  pending: 'statePending', checked_in: 'stateCheckedIn', no_show: 'stateNoShow',
};

const dayFormat = (lang: Lang) => dateFormat(lang, { dateStyle: 'medium', timeZone: 'UTC' });

function ageAt(birthDate: string, at: string): { years: number; months: number } {
  const b = new Date(`${birthDate}T00:00:00Z`);
  const d = new Date(at);
  let months = (d.getUTCFullYear() - b.getUTCFullYear()) * 12 + d.getUTCMonth() - b.getUTCMonth();
  if (d.getUTCDate() < b.getUTCDate()) months--;
  return { years: Math.floor(months / 12), months };
}

/** The CSV needs the bearer token, so it cannot be a plain link: fetch it, then hand the browser a Blob. */
async function downloadCsv(departureId: string): Promise<void> {
  const res = await authedFetch(new Request(`/api/v1/departures/${departureId}/manifest.csv`, { headers: { accept: 'text/csv' } }));
  if (!res.ok) {
    const problem = await res.json().catch(() => ({})) as { detail?: string };
    throw new Error(problem.detail ?? res.statusText);
  }
  const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? `manifest-${departureId}.csv`;
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

interface RowProps {
  p: Passenger;
  booking: Booking;
  startsAt: string;
  steer: boolean;
  busy: boolean;
  lang: Lang;
  t: T;
  onSet: (booking: Booking, p: Passenger, state: CheckinState) => void;
}

const PassengerRow = memo(function PassengerRow({ p, booking, startsAt, steer, busy, lang, t, onSet }: RowProps) {
  const name = `${p.firstName} ${p.lastName}`;
  const state = p.checkIn.state;
  const age = p.birthDate ? ageAt(p.birthDate, startsAt) : null;
  const c = booking.contact;
  return (
    <tr data-testid={`passenger-${p.id}`}>
      <td className="st-strong">{p.lastName}, {p.firstName}</td>
      <td><Link className="st-link" href={`/bookings/${booking.bookingId}`}>{booking.reference}</Link></td>
      <td>
        <div>{c.name ?? '—'}</div>
        {c.phone && <a className="st-link" href={`tel:${c.phone}`}>{c.phone}</a>}
        {c.email && <a className="st-link" href={`mailto:${c.email}`}>{c.email}</a>}
      </td>
      <td>
        <div>{t('language', { language: booking.language === 'es' ? t('langEs') : t('langEn') })}</div>
        {age && <div>{age.years >= 2 ? t('age', { years: age.years }) : t('ageMonths', { months: age.months })}</div>}
      </td>
      <td>
        {booking.amountDue > 0
          ? <><div className="st-due">{formatMoney(booking.amountDue, booking.currency, lang)}</div>
            {booking.balanceDueOn && <div className="st-small">{t('dueBy', { date: dayFormat(lang).format(new Date(`${booking.balanceDueOn}T12:00:00Z`)) })}</div>}</>
          : t('paid')}
      </td>
      <td><span className={`st-badge is-${state}`} data-testid={`checkin-${p.id}`} data-state={state}>{t(STATE_LABEL[state])}</span></td>
      {steer && (
        <td data-print="hide">
          <div className="st-actions">
            {state === 'pending' ? (
              <>
                <button type="button" className="st-btn is-primary" disabled={busy} onClick={() => onSet(booking, p, 'checked_in')} aria-label={t('checkInWho', { name })}>{t('checkIn')}</button>
                <button type="button" className="st-btn is-danger" disabled={busy} onClick={() => onSet(booking, p, 'no_show')} aria-label={t('noShowWho', { name })}>{t('noShow')}</button>
              </>
            ) : (
              <button type="button" className="st-btn" disabled={busy} onClick={() => onSet(booking, p, 'pending')} aria-label={t('undoWho', { name })}>{t('undo')}</button>
            )}
          </div>
        </td>
      )}
    </tr>
  );
});

export default function Manifest({ params }: { params: Record<string, string> }) {
  const departureId = params.id;
  const t = useT(manifestMessages);
  const o = useT(operationsMessages);
  const { lang } = useLang();
  const { user } = useAuth();
  const steer = can.steer(user?.role);
  const queryClient = useQueryClient();
  const key = manifestQuery(departureId, lang).queryKey;

  const manifest = useQuery(manifestQuery(departureId, lang));

  const [pending, setPending] = useState<Set<string>>(() => new Set());
  const checkIn = useMutation({
    mutationFn: (v: { bookingId: string; passengerId: string; state: CheckinState }) =>
      ok(api.POST('/api/v1/departures/{id}/check-ins', { params: { path: { id: departureId } }, body: v })),
    onMutate: (v) => setPending((s) => new Set(s).add(v.passengerId)),
    onSuccess: (answer) => {
      // The answer is the stored state: show it at once, then refetch the totals.
      queryClient.setQueryData<ManifestAnswer>(key, (m) => m && {
        ...m,
        bookings: m.bookings.map((b) => b.bookingId !== answer.bookingId ? b : {
          ...b,
          passengers: b.passengers.map((p) => p.id !== answer.passengerId ? p : { ...p, checkIn: { state: answer.state, at: answer.at, byUserId: answer.byUserId } }),
        }),
      });
    },
    onSettled: (_a, _e, v) => {
      setPending((s) => { const n = new Set(s); n.delete(v.passengerId); return n; });
      return queryClient.invalidateQueries({ queryKey: ['manifest', departureId] });
    },
  });
  const { mutate } = checkIn; // stable across renders, so the rows' memo holds
  const onSet = useCallback((b: Booking, p: Passenger, state: CheckinState) => mutate({ bookingId: b.bookingId, passengerId: p.id, state }), [mutate]);

  const [exportError, setExportError] = useState<string | null>(null);
  const [exporting, setExporting] = useState(false);
  const exportCsv = async () => {
    setExporting(true);
    setExportError(null);
    try {
      await downloadCsv(departureId);
    } catch (err) {
      setExportError((err as Error).message);
    } finally {
      setExporting(false);
    }
  };

  const groups = useMemo(() => {
    const rows = new Map<string, Array<{ p: Passenger; b: Booking }>>();
    for (const b of manifest.data?.bookings ?? []) {
      for (const p of b.passengers) rows.set(p.type, [...(rows.get(p.type) ?? []), { p, b }]);
    }
    for (const list of rows.values()) list.sort((x, y) => x.p.lastName.localeCompare(y.p.lastName) || x.p.firstName.localeCompare(y.p.firstName));
    const known: string[] = [...PAX_ORDER];
    return [...rows.entries()].sort(([a], [b]) => known.indexOf(a) - known.indexOf(b));
  }, [manifest.data]);

  if (manifest.isPending) return <Center p="xl"><Loader aria-label={t('loading')} /></Center>;
  if (manifest.isError) return <Alert color="red" title={o('errorTitle')} role="alert">{(manifest.error as Error).message}</Alert>;
  const m = manifest.data;
  const d = m.departure;
  const paxLabel = (type: string) => (PAX_ORDER as readonly string[]).includes(type) ? o(type as (typeof PAX_ORDER)[number]) : type;

  return (
    <Stack gap="md" className="st-manifest">
      <Group justify="space-between" align="flex-start">
        <div>
          <Title order={1}>{t('title', { tour: d.tour.title })}</Title>
          <Text>{formatDate(d.startsAt, lang, { dateStyle: 'full', timeStyle: 'short', timeZone: d.timezone })}</Text>
        </div>
        <Group gap="xs" data-print="hide">
          <Button variant="default" onClick={() => window.print()}>{t('print')}</Button>
          <Button variant="default" loading={exporting} onClick={() => { void exportCsv(); }}>{t('exportCsv')}</Button>
          <Anchor component={Link} href="/calendar">{t('backToCalendar')}</Anchor>
        </Group>
      </Group>
      {exportError && <Alert color="red" title={t('exportFailed')} role="alert" data-print="hide">{exportError}</Alert>}
      {checkIn.isError && <Alert color="red" title={t('refused')} role="alert" data-print="hide" withCloseButton onClose={() => checkIn.reset()}>{(checkIn.error as Error).message}</Alert>}

      <SimpleGrid cols={{ base: 2, sm: 4, lg: 8 }} spacing="xs">
        <div><Text size="xs" c="dimmed">{t('status')}</Text><Badge color={STATUS_COLOR[d.status]} variant="filled">{o(d.status)}</Badge></div>
        <div><Text size="xs" c="dimmed">{t('branch')}</Text><Text>{d.branch}</Text></div>
        <div><Text size="xs" c="dimmed">{t('guide')}</Text><Text>{d.guideName ?? '—'}</Text></div>
        <div><Text size="xs" c="dimmed">{t('vehicle')}</Text><Text>{d.vehicle ?? '—'}</Text></div>
        <div><Text size="xs" c="dimmed">{t('seats')}</Text><Text data-testid="manifest-seats">{t('seatsValue', { sold: d.sold, held: d.held, capacity: d.capacity })}</Text></div>
        <div><Text size="xs" c="dimmed">{t('passengers')}</Text><Text data-testid="manifest-passengers">{m.totals.passengers}</Text></div>
        <div><Text size="xs" c="dimmed">{t('checkedIn')}</Text><Text data-testid="manifest-checked-in">{m.totals.checkIns.checked_in}</Text></div>
        <div><Text size="xs" c="dimmed">{t('noShows')}</Text><Text data-testid="manifest-no-shows">{m.totals.checkIns.no_show}</Text></div>
      </SimpleGrid>
      <Text size="sm">
        {PAX_ORDER.filter((p) => m.totals.byPaxType[p]).map((p) => `${paxLabel(p)}: ${m.totals.byPaxType[p]}`).join(' · ')}
        {m.totals.passengers > 0 && ` · ${t('bookings')}: ${m.totals.bookings} · ${t('pendingCount')}: ${m.totals.checkIns.pending}`}
      </Text>
      {!steer && <Alert color="blue" data-print="hide" data-testid="manifest-read-only">{t('readOnly')}</Alert>}
      {groups.length === 0 && <Text c="dimmed">{t('empty')}</Text>}

      {groups.map(([type, rows]) => (
        <section key={type} aria-labelledby={`pax-${type}`}>
          <Title order={2} size="h3" id={`pax-${type}`} mb="xs">{t('groupTitle', { type: paxLabel(type), count: rows.length })}</Title>
          <div style={{ overflowX: 'auto' }}>
            <table className="st-table" aria-label={t('groupCaption', { type: paxLabel(type) })} data-testid={`pax-group-${type}`} style={{ minWidth: 860 }}>
              <thead>
                <tr>
                  <th scope="col">{t('colName')}</th>
                  <th scope="col">{t('colBooking')}</th>
                  <th scope="col">{t('colContact')}</th>
                  <th scope="col">{t('colNeeds')}</th>
                  <th scope="col">{t('colBalance')}</th>
                  <th scope="col">{t('colCheckIn')}</th>
                  {steer && <th scope="col" data-print="hide">{t('colActions')}</th>}
                </tr>
              </thead>
              <tbody>
                {rows.map(({ p, b }) => (
                  <PassengerRow key={p.id} p={p} booking={b} startsAt={d.startsAt} steer={steer} busy={pending.has(p.id)} lang={lang} t={t} onSet={onSet} />
                ))}
              </tbody>
            </table>
          </div>
        </section>
      ))}
    </Stack>
  );
}
