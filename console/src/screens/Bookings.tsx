/**
 * Finding bookings: one search box (name, email or reference; the API's ?q=), the departure's
 * date range, status and branch. Pages of 50 through the API's cursor, so the table never holds
 * more rows than a person reads and a keystroke costs one small query.
 */
import { memo, useMemo, useState } from 'react';
import { Alert, Anchor, Button, Group, Select, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { Link } from 'wouter';
import { api, ok, type paths } from '../api/client';
import { can, useAuth } from '../auth';
import { formatDate, formatDeparture, formatMoney, useLang, useT } from '../i18n';
import { StatusBadge } from '../components/StatusBadge';
import { BOOKING_STATUSES, bookingsMessages, statusKey, type BookingStatus } from './bookings-messages';

const PAGE = 50;

export default function Bookings() {
  const t = useT(bookingsMessages);
  const { user } = useAuth();
  const [search, setSearch] = useState('');
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [status, setStatus] = useState<string | null>(null);
  const [branch, setBranch] = useState('');
  // Short: the API answers a search in ~10 ms, so the wait is mostly this debounce.
  const [q] = useDebouncedValue(search.trim(), 100);
  const [branchCode] = useDebouncedValue(branch.trim(), 150);

  const filters = useMemo(() => ({
    q: q || undefined,
    departureFrom: from || undefined,
    departureTo: to || undefined,
    status: (status ?? undefined) as BookingStatus | undefined,
    branch: branchCode.length >= 2 ? branchCode : undefined,
  }), [q, from, to, status, branchCode]);
  // Cursors of the pages before the current one, for the filters they were read with: a filter
  // change starts again at the first page in the same render (no extra render, no stale fetch).
  const filterKey = JSON.stringify(filters);
  const [paging, setPaging] = useState<{ key: string; cursors: string[] }>({ key: filterKey, cursors: [] });
  const cursors = paging.key === filterKey ? paging.cursors : [];
  const setCursors = (next: (c: string[]) => string[]) => setPaging({ key: filterKey, cursors: next(cursors) });
  const cursor = cursors[cursors.length - 1];

  const list = useQuery({
    queryKey: ['bookings', filters, cursor ?? null],
    queryFn: () => ok(api.GET('/api/v1/bookings', { params: { query: { ...filters, limit: PAGE, cursor } } })),
    placeholderData: keepPreviousData,
  });
  const rows = list.data?.data ?? [];

  return (
    <Stack>
      <Group justify="space-between">
        <Title order={1}>{t('title')}</Title>
        {can.steer(user?.role) && <Button component={Link} href="/bookings/new">{t('newBooking')}</Button>}
      </Group>
      <Group align="end" wrap="wrap">
        <TextInput label={t('search')} placeholder={t('searchHint')} value={search} onChange={(e) => setSearch(e.currentTarget.value)} w={260} type="search" />
        <TextInput label={t('from')} type="date" value={from} onChange={(e) => setFrom(e.currentTarget.value)} />
        <TextInput label={t('to')} type="date" value={to} onChange={(e) => setTo(e.currentTarget.value)} />
        <Select
          label={t('status')} placeholder={t('anyStatus')} clearable value={status} onChange={setStatus} w={200}
          data={BOOKING_STATUSES.map((s) => ({ value: s, label: t(statusKey(s)) }))}
        />
        <TextInput label={t('branch')} placeholder={t('branchHint')} value={branch} onChange={(e) => setBranch(e.currentTarget.value)} w={130} maxLength={16} />
      </Group>
      {list.error && <Alert color="red" role="alert" title={t('loadFailed')}>{(list.error as Error).message}</Alert>}
      <Table.ScrollContainer minWidth={900}>
        <Table striped highlightOnHover aria-busy={list.isFetching} data-testid="bookings-table" data-filter={filterKey} data-placeholder={list.isPlaceholderData ? 'yes' : 'no'}>
          <Table.Caption>{t('caption')}</Table.Caption>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>{t('reference')}</Table.Th>
              <Table.Th>{t('customer')}</Table.Th>
              <Table.Th>{t('tour')}</Table.Th>
              <Table.Th>{t('departure')}</Table.Th>
              <Table.Th>{t('status')}</Table.Th>
              <Table.Th ta="right">{t('pax')}</Table.Th>
              <Table.Th ta="right">{t('total')}</Table.Th>
              <Table.Th ta="right">{t('due')}</Table.Th>
              <Table.Th>{t('branch')}</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <BookingRows rows={rows} />
        </Table>
      </Table.ScrollContainer>
      {list.isSuccess && rows.length === 0 && <Text c="dimmed">{t('none')}</Text>}
      <Group justify="space-between">
        <Text size="sm" c="dimmed" data-testid="bookings-count" data-count={rows.length}>{t('pageOf', { page: cursors.length + 1 })} · {t('shown', { count: rows.length })}</Text>
        <Group>
          <Button variant="default" disabled={!cursors.length} onClick={() => setCursors((c) => c.slice(0, -1))}>{t('previous')}</Button>
          <Button variant="default" disabled={!list.data?.hasMore || !list.data.nextCursor} onClick={() => list.data?.nextCursor && setCursors((c) => [...c, list.data!.nextCursor!])}>{t('next')}</Button>
        </Group>
      </Group>
    </Stack>
  );
}

type BookingRow = NonNullable<paths['/api/v1/bookings']['get']['responses'][200]['content']['application/json']>['data'][number];

/** The rows only re-render when the answer changes, not on every keystroke in the filters. */
const BookingRows = memo(function BookingRows({ rows }: { rows: BookingRow[] }) {
  const t = useT(bookingsMessages);
  const { lang } = useLang();
  return (
    <Table.Tbody>
      {rows.map((b) => (
        <Table.Tr key={b.id} data-testid="booking-row">
          <Table.Td><Anchor component={Link} href={`/bookings/${b.id}`} ff="monospace">{b.reference}</Anchor></Table.Td>
          <Table.Td>
            <Text size="sm">{b.contact.name}</Text>
            <Text size="xs" c="dimmed">{b.contact.email}</Text>
          </Table.Td>
          <Table.Td>{b.tourTitle}</Table.Td>
          <Table.Td>{formatDeparture(b.departureStartsAt, lang, b.departureTimeZone)}</Table.Td>
          <Table.Td><StatusBadge status={b.status} /></Table.Td>
          <Table.Td ta="right">{b.paxCount}</Table.Td>
          <Table.Td ta="right">{formatMoney(b.price.total, b.price.currency, lang)}</Table.Td>
          <Table.Td ta="right">{formatMoney(b.amountDue, b.price.currency, lang)}</Table.Td>
          <Table.Td>{b.branch}</Table.Td>
        </Table.Tr>
      ))}
    </Table.Tbody>
  );
});
