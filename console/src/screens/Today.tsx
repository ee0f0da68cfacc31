/**
 * Today: the first screen of admins, operators and accountants. Departures of today and
 * tomorrow with their load, holds about to expire, balances due, approvals waiting, and revenue
 * by branch over 30 days. The chart library loads in its own chunk after the page's data, so it
 * is never in the first screen's JavaScript.
 */
import { lazy, Suspense, useMemo } from 'react';
import { WhenVisible } from '../components/WhenVisible';
import { Alert, Anchor, Badge, Card, Center, Group, Loader, SimpleGrid, Stack, Table, Text, Title } from '@mantine/core';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Link } from 'wouter';
import { api, ok } from '../api/client';
import { formatDate, formatDeparture, formatMoney, useLang, useT, type Lang } from '../i18n';
import { todayMessages } from './today-messages';
import { LoadBar, operationsMessages, prefetchManifest, STATUS_COLOR, type TodayBoard } from './operations-shared';
import './operations.css';

const RevenueChart = lazy(() => import('./RevenueChart'));

type Departure = TodayBoard['departures'][number];

function timeOf(iso: string, timeZone: string, lang: Lang) {
  return formatDate(iso, lang, { timeStyle: 'short', timeZone });
}

function DepartureTable({ rows, caption, testId }: { rows: Departure[]; caption: string; testId: string }) {
  const t = useT(todayMessages);
  const o = useT(operationsMessages);
  const { lang } = useLang();
  const queryClient = useQueryClient();
  if (!rows.length) return <Text c="dimmed" data-testid={`${testId}-empty`}>{t('noDepartures')}</Text>;
  return (
    <Table.ScrollContainer minWidth={720}>
      <Table striped data-testid={testId} aria-label={caption}>
        <Table.Thead>
          <Table.Tr>
            <Table.Th scope="col">{t('colTime')}</Table.Th>
            <Table.Th scope="col">{t('colTour')}</Table.Th>
            <Table.Th scope="col">{t('colBranch')}</Table.Th>
            <Table.Th scope="col">{t('colStatus')}</Table.Th>
            <Table.Th scope="col">{t('colSold')}</Table.Th>
            <Table.Th scope="col">{t('colHeld')}</Table.Th>
            <Table.Th scope="col">{t('colCapacity')}</Table.Th>
            <Table.Th scope="col" w={160}>{t('colLoad')}</Table.Th>
            <Table.Th scope="col">{t('colActions')}</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {rows.map((d) => {
            const time = timeOf(d.startsAt, d.timezone, lang);
            return (
              <Table.Tr key={d.id} data-testid={`departure-${d.id}`}>
                <Table.Td>{time}</Table.Td>
                <Table.Td>{d.tour.title}</Table.Td>
                <Table.Td>{d.branch}</Table.Td>
                <Table.Td><Badge color={STATUS_COLOR[d.status]} variant="filled">{o(d.status)}</Badge></Table.Td>
                <Table.Td data-testid="sold">{d.sold}</Table.Td>
                <Table.Td data-testid="held">{d.held}</Table.Td>
                <Table.Td data-testid="capacity">{d.capacity}</Table.Td>
                <Table.Td>
                  <LoadBar capacity={d.capacity} held={d.held} sold={d.sold} label={o('loadLabel', { sold: d.sold, held: d.held, capacity: d.capacity })} />
                </Table.Td>
                <Table.Td>
                  <Anchor
                    component={Link} href={`/departures/${d.id}/manifest`} aria-label={t('openManifestOf', { tour: d.tour.title, time })}
                    onMouseEnter={() => prefetchManifest(queryClient, d.id, lang)} onFocus={() => prefetchManifest(queryClient, d.id, lang)}
                  >
                    {t('openManifest')}
                  </Anchor>
                </Table.Td>
              </Table.Tr>
            );
          })}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}

function Stat({ label, value, testId, href }: { label: string; value: number; testId: string; href?: string }) {
  return (
    <Card withBorder padding="sm">
      <Text size="sm" c="dimmed" data-label>{label}</Text>
      {href
        ? <Anchor component={Link} href={href} fz={28} fw={700} data-testid={testId}>{value}</Anchor>
        : <Text fz={28} fw={700} data-testid={testId}>{value}</Text>}
    </Card>
  );
}

export default function Today() {
  const t = useT(todayMessages);
  const o = useT(operationsMessages);
  const { lang } = useLang();
  const board = useQuery({
    queryKey: ['today', lang],
    queryFn: () => ok(api.GET('/api/v1/console/today', { params: { query: { lang } } })),
    // Holds expire and the clock moves on even when nothing is written.
    refetchInterval: 60_000,
  });

  const split = useMemo(() => {
    const deps = board.data?.departures ?? [];
    const today = deps.filter((d) => d.day === 'today');
    return { today, tomorrow: deps.filter((d) => d.day === 'tomorrow'), seatsToday: today.reduce((n, d) => n + d.held + d.sold, 0) };
  }, [board.data]);

  const revenueTotals = useMemo(() => {
    const totals = new Map<string, { branch: string; currency: string; captured: number; refunded: number; net: number }>();
    for (const r of board.data?.revenue ?? []) {
      const key = `${r.branch}|${r.currency}`;
      const e = totals.get(key) ?? { branch: r.branch, currency: r.currency, captured: 0, refunded: 0, net: 0 };
      e.captured += r.captured;
      e.refunded += r.refunded;
      e.net += r.net;
      totals.set(key, e);
    }
    return [...totals.values()];
  }, [board.data]);

  if (board.isPending) return <Center p="xl"><Loader aria-label={t('title')} /></Center>;
  if (board.isError) return <Alert color="red" title={o('errorTitle')} role="alert">{(board.error as Error).message}</Alert>;
  const b = board.data;
  const now = Date.now();

  return (
    <Stack gap="lg">
      <Group justify="space-between" align="baseline">
        <Title order={1}>{t('title')}</Title>
        <Text size="sm" c="dimmed">{t('updatedAt', { time: formatDate(b.generatedAt, lang, { timeStyle: 'short' }) })}</Text>
      </Group>

      <SimpleGrid cols={{ base: 2, md: 5 }}>
        <Stat label={t('statDepartures')} value={split.today.length} testId="stat-departures-today" />
        <Stat label={t('statPassengers')} value={split.seatsToday} testId="stat-seats-today" />
        <Stat label={t('statHolds')} value={b.expiringHolds.length} testId="stat-holds" />
        <Stat label={t('statDue')} value={b.balancesDue.length} testId="stat-due" />
        <Stat label={t('statApprovals')} value={b.approvals.pending} testId="stat-approvals" href="/approvals" />
      </SimpleGrid>

      <section aria-labelledby="today-departures">
        <Title order={2} size="h3" id="today-departures" mb="xs">{t('departuresToday')}</Title>
        <DepartureTable rows={split.today} caption={t('departuresToday')} testId="departures-today" />
      </section>

      <section aria-labelledby="tomorrow-departures">
        <Title order={2} size="h3" id="tomorrow-departures" mb="xs">{t('departuresTomorrow')}</Title>
        <DepartureTable rows={split.tomorrow} caption={t('departuresTomorrow')} testId="departures-tomorrow" />
      </section>

      <SimpleGrid cols={{ base: 1, lg: 2 }} spacing="lg">
        <section aria-labelledby="today-holds">
          <Title order={2} size="h3" id="today-holds" mb="xs">{t('holdsTitle')}</Title>
          {b.expiringHolds.length === 0 ? <Text c="dimmed">{t('noHolds')}</Text> : (
            <Table.ScrollContainer minWidth={480}>
              <Table aria-label={t('holdsCaption')} data-testid="expiring-holds">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th scope="col">{t('colReference')}</Table.Th>
                    <Table.Th scope="col">{t('colContact')}</Table.Th>
                    <Table.Th scope="col">{t('colPax')}</Table.Th>
                    <Table.Th scope="col">{t('colExpires')}</Table.Th>
                    <Table.Th scope="col">{t('colAmount')}</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {b.expiringHolds.map((h) => (
                    <Table.Tr key={h.bookingId}>
                      <Table.Td><Anchor component={Link} href={`/bookings/${h.bookingId}`}>{h.reference}</Anchor></Table.Td>
                      <Table.Td>{h.contactName ?? t('unknownContact')}</Table.Td>
                      <Table.Td>{h.paxCount}</Table.Td>
                      <Table.Td>{t('expiresIn', { minutes: Math.max(0, Math.round((Date.parse(h.holdExpiresAt) - now) / 60_000)) })}</Table.Td>
                      <Table.Td>{formatMoney(h.total, h.currency, lang)}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
          )}
        </section>

        <section aria-labelledby="today-approvals">
          <Title order={2} size="h3" id="today-approvals" mb="xs">{t('approvalsTitle')}</Title>
          {b.approvals.pending === 0 ? <Text c="dimmed">{t('noApprovals')}</Text> : (
            <Stack gap="xs">
              <Text>{t('approvalsCount', { count: b.approvals.pending })}</Text>
              <Table.ScrollContainer minWidth={420}>
                <Table aria-label={t('approvalsTitle')}>
                  <Table.Thead>
                    <Table.Tr>
                      <Table.Th scope="col">{t('colKind')}</Table.Th>
                      <Table.Th scope="col">{t('colReason')}</Table.Th>
                      <Table.Th scope="col">{t('colAmount')}</Table.Th>
                      <Table.Th scope="col">{t('colRequested')}</Table.Th>
                    </Table.Tr>
                  </Table.Thead>
                  <Table.Tbody>
                    {b.approvals.first.map((a) => (
                      <Table.Tr key={a.id}>
                        <Table.Td>{a.kind === 'refund' ? t('kindRefund') : t('kindAgent')}</Table.Td>
                        <Table.Td>{a.bookingId ? <Anchor component={Link} href={`/bookings/${a.bookingId}`}>{a.reason}</Anchor> : a.reason}</Table.Td>
                        <Table.Td>{a.amount !== null && a.currency ? formatMoney(a.amount, a.currency, lang) : '—'}</Table.Td>
                        <Table.Td>{formatDate(a.requestedAt, lang, { dateStyle: 'short', timeStyle: 'short' })}</Table.Td>
                      </Table.Tr>
                    ))}
                  </Table.Tbody>
                </Table>
              </Table.ScrollContainer>
            </Stack>
          )}
          <Anchor component={Link} href="/approvals" mt="xs" display="inline-block">{t('openApprovals')}</Anchor>
        </section>
      </SimpleGrid>

      <section aria-labelledby="today-due">
        <Title order={2} size="h3" id="today-due" mb="xs">{t('dueTitle')}</Title>
        {b.balancesDue.length === 0 ? <Text c="dimmed">{t('noDue')}</Text> : (
          <Table.ScrollContainer minWidth={640}>
            <Table striped aria-label={t('dueCaption')} data-testid="balances-due">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th scope="col">{t('colReference')}</Table.Th>
                  <Table.Th scope="col">{t('colContact')}</Table.Th>
                  <Table.Th scope="col">{t('colDeparture')}</Table.Th>
                  <Table.Th scope="col">{t('colDueOn')}</Table.Th>
                  <Table.Th scope="col">{t('colAmountDue')}</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {b.balancesDue.map((d) => (
                  <Table.Tr key={d.bookingId}>
                    <Table.Td><Anchor component={Link} href={`/bookings/${d.bookingId}`}>{d.reference}</Anchor></Table.Td>
                    <Table.Td>{d.contactName ?? t('unknownContact')}</Table.Td>
                    <Table.Td>
                      <Anchor component={Link} href={`/departures/${d.departureId}/manifest`}>
                        {d.tourTitle} · {formatDeparture(d.departureStartsAt, lang, d.departureTimeZone)}
                      </Anchor>
                    </Table.Td>
                    <Table.Td>{d.dueOn ? formatDate(`${d.dueOn}T12:00:00Z`, lang) : '—'}</Table.Td>
                    <Table.Td>{formatMoney(d.amountDue, d.currency, lang)}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        )}
      </section>

      <section aria-labelledby="today-revenue">
        <Title order={2} size="h3" id="today-revenue" mb="xs">{t('revenueTitle')}</Title>
        {b.revenue.length === 0 ? <Text c="dimmed">{t('noRevenue')}</Text> : (
          <Stack>
            {/* The chart library (~130 KB gzipped) loads when the chart scrolls into view, not with the first screen. */}
            <WhenVisible minHeight={260}>
              <Suspense fallback={<Center h={260}><Loader aria-label={t('chartLoading')} /></Center>}>
                <RevenueChart revenue={b.revenue} label={t('revenueChart')} lang={lang} until={b.generatedAt.slice(0, 10)} />
              </Suspense>
            </WhenVisible>
            <Table.ScrollContainer minWidth={420}>
              <Table aria-label={t('revenueCaption')} data-testid="revenue-totals">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th scope="col">{t('colBranch')}</Table.Th>
                    <Table.Th scope="col">{t('colCaptured')}</Table.Th>
                    <Table.Th scope="col">{t('colRefunded')}</Table.Th>
                    <Table.Th scope="col">{t('colNet')}</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {revenueTotals.map((r) => (
                    <Table.Tr key={`${r.branch}|${r.currency}`}>
                      <Table.Td>{r.branch}</Table.Td>
                      <Table.Td>{formatMoney(r.captured, r.currency, lang)}</Table.Td>
                      <Table.Td>{formatMoney(r.refunded, r.currency, lang)}</Table.Td>
                      <Table.Td>{formatMoney(r.net, r.currency, lang)}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
          </Stack>
        )}
      </section>
    </Stack>
  );
}
