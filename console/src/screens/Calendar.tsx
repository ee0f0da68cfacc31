/**
 * Calendar: a month of departures per day and tour with capacity, held and sold; filters by
 * excursion and branch (kept in the address, so a link shows the same month); scheduling a
 * departure and closing or reopening one. A busy month holds ~1,000 departures, so a day cell is
 * a memoised component of plain elements (one <button> per departure, no Mantine tree per
 * departure), and the grid re-renders only when the month's data or filters change.
 */
import { memo, useCallback, useEffect, useMemo, useState, type FormEvent } from 'react';
import {
  Alert, Anchor, Badge, Button, Center, Drawer, Group, Loader, Modal, NumberInput, Select, SimpleGrid, Stack, Text, TextInput, Title,
} from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useSearchParams } from 'wouter';
import { api, ok } from '../api/client';
import { can, useAuth } from '../auth';
import { formatDate, useLang, useT, type Lang } from '../i18n';
import { calendarMessages } from './calendar-messages';
import { dateFormat, LoadBar, operationsMessages, prefetchManifest, STATUS_COLOR, type CalendarAnswer, type OkOf } from './operations-shared';
import './operations.css';

type CalDeparture = CalendarAnswer['days'][number]['departures'][number];
type CalDay = CalendarAnswer['days'][number];
type Tour = OkOf<'listTours'>['data'][number];

const pad = (n: number) => String(n).padStart(2, '0');
const ymd = (d: Date) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;

function localToday(): string {
  const d = new Date();
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

function shiftMonth(month: string, by: number): string {
  const [y, m] = month.split('-').map(Number);
  const d = new Date(Date.UTC(y, m - 1 + by, 1));
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}`;
}

/** The month's first and last day, and the Monday-to-Sunday weeks that cover it. */
function monthGrid(month: string) {
  const [y, m] = month.split('-').map(Number);
  const first = new Date(Date.UTC(y, m - 1, 1));
  const last = new Date(Date.UTC(y, m, 0));
  const start = new Date(first);
  start.setUTCDate(first.getUTCDate() - ((first.getUTCDay() + 6) % 7));
  const cells: Array<{ date: string; inMonth: boolean }> = [];
  for (const d = new Date(start); d <= last || cells.length % 7 !== 0; d.setUTCDate(d.getUTCDate() + 1)) {
    cells.push({ date: ymd(d), inMonth: d.getUTCMonth() === m - 1 });
  }
  return { from: ymd(first), to: ymd(last), cells };
}

/** All active tours (a few pages at most), for the filter and the schedule form. */
async function allTours(lang: Lang): Promise<Tour[]> {
  const tours: Tour[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 20; i++) {
    const page = await ok(api.GET('/api/v1/tours', { params: { query: { lang, limit: 100, cursor } } }));
    tours.push(...page.data);
    if (!page.hasMore || !page.nextCursor) break;
    cursor = page.nextCursor;
  }
  return tours;
}

interface DayCellProps {
  date: string;
  inMonth: boolean;
  isToday: boolean;
  day: CalDay | undefined;
  lang: Lang;
  onSelect: (id: string) => void;
  totalsLabel: (taken: number, capacity: number) => string;
  dayLabel: (date: string, count: number) => string;
  moreLabel: (count: number) => string;
}

/** A day shows this many departures until asked for the rest: a busy month stays a few hundred elements. */
const DAY_LIMIT = 6;

const DayCell = memo(function DayCell({ date, inMonth, isToday, day, lang, onSelect, totalsLabel, dayLabel, moreLabel }: DayCellProps) {
  const n = Number(date.slice(8));
  const [expanded, setExpanded] = useState(false);
  const all = day?.departures ?? [];
  const deps = expanded || all.length <= DAY_LIMIT + 1 ? all : all.slice(0, DAY_LIMIT);
  const longDate = dateFormat(lang, { dateStyle: 'full', timeZone: 'UTC' }).format(new Date(`${date}T12:00:00Z`));
  return (
    <div className={`st-cal-day${inMonth ? '' : ' is-out'}${isToday ? ' is-today' : ''}`} role="gridcell" aria-label={dayLabel(longDate, all.length)} data-date={date}>
      <div className="st-cal-date">
        <span aria-hidden>{n}</span>
        {day && <span className="st-cal-totals" aria-hidden>{totalsLabel(day.totals.held + day.totals.sold, day.totals.capacity)}</span>}
      </div>
      {all.length > 0 && (
        <ul className="st-cal-list">
          {deps.map((d) => (
            <li key={d.id}>
              <button
                type="button"
                className={`st-cal-dep${d.status === 'closed' || d.status === 'cancelled' ? ' is-closed' : ''}`}
                onClick={() => onSelect(d.id)}
                title={`${d.tour.title} · ${d.branch}`}
                data-testid={`cal-dep-${d.id}`}
              >
                {d.startTime} {d.tour.code} {d.sold + d.held}/{d.capacity}
                <LoadBar capacity={d.capacity} held={d.held} sold={d.sold} decorative />
              </button>
            </li>
          ))}
          {deps.length < all.length && (
            <li><button type="button" className="st-cal-more" onClick={() => setExpanded(true)}>{moreLabel(all.length - deps.length)}</button></li>
          )}
        </ul>
      )}
    </div>
  );
});

function DeparturePanel({ departure, onClose }: { departure: CalDeparture | null; onClose: () => void }) {
  const t = useT(calendarMessages);
  const o = useT(operationsMessages);
  const { lang } = useLang();
  const { user } = useAuth();
  const queryClient = useQueryClient();
  const toggle = useMutation({
    mutationFn: (status: 'closed' | 'open') => ok(api.PATCH('/api/v1/departures/{id}', { params: { path: { id: departure!.id } }, body: { status } })),
    onSettled: () => Promise.all([queryClient.invalidateQueries({ queryKey: ['calendar'] }), queryClient.invalidateQueries({ queryKey: ['today'] })]),
  });
  const d = departure;
  const openId = d?.id;
  useEffect(() => {
    if (openId) prefetchManifest(queryClient, openId, lang);
  }, [openId, lang, queryClient]);
  return (
    <Drawer opened={!!d} onClose={() => { toggle.reset(); onClose(); }} position="right" title={d ? `${d.tour.title}` : t('departure')} closeButtonProps={{ 'aria-label': t('closePanel') }}>
      {d && (
        <Stack>
          <SimpleGrid cols={2} spacing="xs">
            <Text c="dimmed">{t('startsAt')}</Text>
            <Text>{formatDate(d.startsAt, lang, { dateStyle: 'full', timeStyle: 'short', timeZone: d.timezone })}</Text>
            <Text c="dimmed">{t('status')}</Text>
            <div><Badge color={STATUS_COLOR[d.status]} variant="filled" data-testid="panel-status">{o(d.status)}</Badge></div>
            <Text c="dimmed">{t('capacity')}</Text><Text data-testid="panel-capacity">{d.capacity}</Text>
            <Text c="dimmed">{t('sold')}</Text><Text data-testid="panel-sold">{d.sold}</Text>
            <Text c="dimmed">{t('held')}</Text><Text data-testid="panel-held">{d.held}</Text>
            <Text c="dimmed">{t('available')}</Text><Text>{d.available}</Text>
          </SimpleGrid>
          <LoadBar capacity={d.capacity} held={d.held} sold={d.sold} label={o('loadLabel', { sold: d.sold, held: d.held, capacity: d.capacity })} />
          <Anchor component={Link} href={`/departures/${d.id}/manifest`}>{t('openManifest')}</Anchor>
          {d.status === 'closed' && <Text size="sm">{t('closedNote')}</Text>}
          {can.steer(user?.role) && (d.status === 'closed'
            ? <Button variant="default" loading={toggle.isPending} onClick={() => toggle.mutate('open')}>{t('reopenDeparture')}</Button>
            : <Button color="red" variant="outline" loading={toggle.isPending} disabled={!['scheduled', 'guaranteed'].includes(d.status)} onClick={() => toggle.mutate('closed')}>{t('closeDeparture')}</Button>)}
          {toggle.isError && <Alert color="red" title={t('refused')} role="alert">{(toggle.error as Error).message}</Alert>}
        </Stack>
      )}
    </Drawer>
  );
}

function ScheduleForm({ opened, onClose, tours, defaultTourId }: { opened: boolean; onClose: () => void; tours: Tour[]; defaultTourId?: string }) {
  const t = useT(calendarMessages);
  const queryClient = useQueryClient();
  const [tourId, setTourId] = useState<string | null>(defaultTourId ?? null);
  const [startsAt, setStartsAt] = useState('');
  const [capacity, setCapacity] = useState<number | string>(20);
  const [adult, setAdult] = useState<number | string>('');
  const [child, setChild] = useState<number | string>('');
  const [guide, setGuide] = useState('');
  const [vehicle, setVehicle] = useState('');
  const tour = tours.find((x) => x.id === tourId);
  const create = useMutation({
    mutationFn: () => {
      const minor = (v: number | string) => Math.round(Number(v) * 100);
      const priceOverrides = {
        ...(adult !== '' ? { adult: minor(adult) } : {}),
        ...(child !== '' ? { child: minor(child) } : {}),
      };
      return ok(api.POST('/api/v1/tours/{id}/departures', {
        params: { path: { id: tourId! } },
        body: {
          startsAt: new Date(startsAt).toISOString(),
          capacity: Number(capacity),
          ...(Object.keys(priceOverrides).length ? { priceOverrides } : {}),
          ...(guide ? { guideName: guide } : {}),
          ...(vehicle ? { vehicle } : {}),
        },
      }));
    },
    onSuccess: async () => {
      await Promise.all([queryClient.invalidateQueries({ queryKey: ['calendar'] }), queryClient.invalidateQueries({ queryKey: ['today'] })]);
      setStartsAt('');
      onClose();
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!tourId || !startsAt) return;
    create.mutate();
  };
  return (
    <Modal opened={opened} onClose={() => { create.reset(); onClose(); }} title={t('scheduleTitle')} closeButtonProps={{ 'aria-label': t('cancel') }}>
      <form onSubmit={submit}>
        <Stack>
          <Select
            label={t('formTour')} required searchable value={tourId} onChange={setTourId}
            data={tours.map((x) => ({ value: x.id, label: `${x.code} · ${x.title}` }))}
          />
          <TextInput label={t('formStartsAt')} type="datetime-local" required value={startsAt} onChange={(e) => setStartsAt(e.currentTarget.value)} />
          <NumberInput label={t('formCapacity')} required min={1} max={1000} allowDecimal={false} value={capacity} onChange={setCapacity} />
          <Group grow>
            <NumberInput label={t('formAdultPrice')} min={0} decimalScale={2} value={adult} onChange={setAdult} suffix={tour ? ` ${tour.currency}` : undefined} />
            <NumberInput label={t('formChildPrice')} min={0} decimalScale={2} value={child} onChange={setChild} suffix={tour ? ` ${tour.currency}` : undefined} />
          </Group>
          <Group grow>
            <TextInput label={t('formGuide')} maxLength={120} value={guide} onChange={(e) => setGuide(e.currentTarget.value)} />
            <TextInput label={t('formVehicle')} maxLength={120} value={vehicle} onChange={(e) => setVehicle(e.currentTarget.value)} />
          </Group>
          {create.isError && <Alert color="red" title={t('refused')} role="alert">{(create.error as Error).message}</Alert>}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>{t('cancel')}</Button>
            <Button type="submit" loading={create.isPending} disabled={!tourId || !startsAt}>{t('save')}</Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

const WEEKDAYS = [0, 1, 2, 3, 4, 5, 6].map((i) => `2024-01-0${i + 1}T12:00:00Z`); // 1 January 2024 was a Monday

export default function Calendar() {
  const t = useT(calendarMessages);
  const o = useT(operationsMessages);
  const { lang } = useLang();
  const { user } = useAuth();
  const [search, setSearch] = useSearchParams();
  const month = /^\d{4}-\d{2}$/.test(search.get('month') ?? '') ? search.get('month')! : localToday().slice(0, 7);
  const tourId = search.get('tour') ?? null;
  const branch = search.get('branch') ?? null;
  const setParam = useCallback((name: string, value: string | null) => {
    setSearch((prev) => {
      const next = new URLSearchParams(prev);
      if (value) next.set(name, value); else next.delete(name);
      return next;
    }, { replace: true });
  }, [setSearch]);

  const grid = useMemo(() => monthGrid(month), [month]);
  const cal = useQuery({
    queryKey: ['calendar', grid.from, grid.to, tourId, branch, lang],
    queryFn: () => ok(api.GET('/api/v1/console/calendar', {
      params: { query: { from: grid.from, to: grid.to, lang, ...(tourId ? { tourId } : {}), ...(branch ? { branch } : {}) } },
    })),
    placeholderData: (prev) => prev,
  });
  const tours = useQuery({ queryKey: ['tours', lang], queryFn: () => allTours(lang), staleTime: 5 * 60_000 });

  // Operators see and schedule only their branch: its code is the one their departures carry.
  const myBranch = user?.role === 'admin' ? null : cal.data?.days[0]?.departures[0]?.branch ?? null;
  const tourChoices = useMemo(() => (tours.data ?? []).filter((x) => !myBranch || x.branch === myBranch), [tours.data, myBranch]);
  const branches = useMemo(() => [...new Set((tours.data ?? []).map((x) => x.branch))].sort(), [tours.data]);

  const byDate = useMemo(() => new Map((cal.data?.days ?? []).map((d) => [d.date, d])), [cal.data]);
  const summary = useMemo(() => {
    let count = 0; let sold = 0; let held = 0; let capacity = 0;
    for (const d of cal.data?.days ?? []) {
      count += d.departures.length; sold += d.totals.sold; held += d.totals.held; capacity += d.totals.capacity;
    }
    return { count, sold, held, capacity };
  }, [cal.data]);

  const [selectedId, setSelectedId] = useState<string | null>(null);
  const selected = useMemo(() => {
    if (!selectedId) return null;
    for (const d of cal.data?.days ?? []) for (const x of d.departures) if (x.id === selectedId) return x;
    return null;
  }, [selectedId, cal.data]);
  const [scheduling, setScheduling] = useState(false);

  const onSelect = useCallback((id: string) => setSelectedId(id), []);
  const totalsLabel = useCallback((taken: number, capacity: number) => t('dayTotals', { taken, capacity }), [t]);
  const dayLabel = useCallback((date: string, count: number) => t('dayLabel', { date, count }), [t]);
  const moreLabel = useCallback((count: number) => t('more', { count }), [t]);

  const monthName = formatDate(`${month}-15T12:00:00Z`, lang, { month: 'long', year: 'numeric', timeZone: 'UTC' });
  const today = localToday();

  return (
    <Stack gap="md">
      <Group justify="space-between">
        <Title order={1}>{t('title')}</Title>
        {can.steer(user?.role) && <Button onClick={() => setScheduling(true)}>{t('schedule')}</Button>}
      </Group>

      <Group align="flex-end" wrap="wrap">
        <Group gap="xs" align="center">
          <Button variant="default" onClick={() => setParam('month', shiftMonth(month, -1))} aria-label={t('previousMonth')}>‹</Button>
          <Title order={2} size="h3" miw={190} ta="center" aria-live="polite" data-testid="calendar-month">{monthName}</Title>
          <Button variant="default" onClick={() => setParam('month', shiftMonth(month, 1))} aria-label={t('nextMonth')}>›</Button>
          <Button variant="subtle" onClick={() => setParam('month', null)}>{t('thisMonth')}</Button>
        </Group>
        <Select
          label={t('filterTour')} placeholder={t('allTours')} clearable searchable w={280}
          value={tourId} onChange={(v) => setParam('tour', v)}
          data={tourChoices.map((x) => ({ value: x.id, label: `${x.code} · ${x.title}` }))}
        />
        {user?.role === 'admin' && (
          <Select
            label={t('filterBranch')} placeholder={t('allBranches')} clearable w={180}
            value={branch} onChange={(v) => setParam('branch', v)}
            data={branches}
          />
        )}
        {cal.isFetching && <Loader size="sm" aria-label={t('loading')} />}
      </Group>

      {cal.isError && <Alert color="red" title={o('errorTitle')} role="alert">{(cal.error as Error).message}</Alert>}
      {cal.isPending ? <Center p="xl"><Loader aria-label={t('loading')} /></Center> : (
        <>
          <Text size="sm" data-testid="calendar-summary">
            {summary.count ? t(summary.count === 1 ? 'monthSummaryOne' : 'monthSummary', { ...summary }) : t('noDepartures')}
          </Text>
          <div role="grid" aria-label={t('grid', { month: monthName })} data-testid="calendar-grid" data-departures={summary.count} data-month={cal.data?.from.slice(0, 7)}>
            <div role="row" className="st-cal">
              {WEEKDAYS.map((d) => <div key={d} role="columnheader" className="st-cal-head">{formatDate(d, lang, { weekday: 'short', timeZone: 'UTC' })}</div>)}
            </div>
            {Array.from({ length: grid.cells.length / 7 }, (_, w) => (
              <div role="row" className="st-cal" key={w} style={{ marginTop: 4 }}>
                {grid.cells.slice(w * 7, w * 7 + 7).map((c) => (
                  <DayCell
                    key={c.date} date={c.date} inMonth={c.inMonth} isToday={c.date === today} day={c.inMonth ? byDate.get(c.date) : undefined}
                    lang={lang} onSelect={onSelect} totalsLabel={totalsLabel} dayLabel={dayLabel} moreLabel={moreLabel}
                  />
                ))}
              </div>
            ))}
          </div>
        </>
      )}

      <DeparturePanel departure={selected} onClose={() => setSelectedId(null)} />
      {scheduling && <ScheduleForm opened onClose={() => setScheduling(false)} tours={tourChoices} defaultTourId={tourId ?? undefined} />}
    </Stack>
  );
}
