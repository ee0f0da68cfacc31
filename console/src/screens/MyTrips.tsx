/** A customer's or partner's own bookings (the API scopes the list), each linking to its page; a cancel with the policy's refund shown first. */
import { Alert, Anchor, Button, Stack, Table, Text, Title } from '@mantine/core';
import { Link } from 'wouter';
import { api, ok } from '../api/client';
import { usePagedList } from '../api/paged';
import { formatDeparture, formatMoney, useLang, useT } from '../i18n';
import { StatusBadge } from '../components/StatusBadge';
import { CancelBooking } from '../components/CancelBooking';
import { myTripsMessages } from './my-trips-messages';

const CANCELLABLE = ['held', 'awaiting_payment', 'confirmed', 'paid_in_full'];

export default function MyTrips() {
  const t = useT(myTripsMessages);
  const { lang } = useLang();
  const { list: trips, rows } = usePagedList(['my-trips'], (cursor) => ok(api.GET('/api/v1/bookings', { params: { query: { limit: 50, cursor } } })));
  return (
    <Stack>
      <Title order={1}>{t('title')}</Title>
      {trips.error && <Alert color="red" role="alert" title={t('loadFailed')}>{(trips.error as Error).message}</Alert>}
      {trips.isSuccess && rows.length === 0 && <Text c="dimmed">{t('none')}</Text>}
      {rows.length > 0 && (
        <Table.ScrollContainer minWidth={760}>
          <Table striped data-testid="trips-table">
            <Table.Caption>{t('caption')}</Table.Caption>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>{t('reference')}</Table.Th><Table.Th>{t('tour')}</Table.Th><Table.Th>{t('departure')}</Table.Th><Table.Th>{t('status')}</Table.Th>
                <Table.Th ta="right">{t('pax')}</Table.Th><Table.Th ta="right">{t('total')}</Table.Th><Table.Th ta="right">{t('due')}</Table.Th><Table.Th>{t('actions')}</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {rows.map((b) => (
                <Table.Tr key={b.id} data-testid="trip-row" data-reference={b.reference}>
                  <Table.Td><Anchor component={Link} href={`/bookings/${b.id}`} ff="monospace">{b.reference}</Anchor></Table.Td>
                  <Table.Td>{b.tourTitle}</Table.Td>
                  <Table.Td>{formatDeparture(b.departureStartsAt, lang, b.departureTimeZone)}</Table.Td>
                  <Table.Td><StatusBadge status={b.status} /></Table.Td>
                  <Table.Td ta="right">{b.paxCount}</Table.Td>
                  <Table.Td ta="right">{formatMoney(b.price.total, b.price.currency, lang)}</Table.Td>
                  <Table.Td ta="right">{formatMoney(b.amountDue, b.price.currency, lang)}</Table.Td>
                  <Table.Td>{CANCELLABLE.includes(b.status) && <CancelBooking bookingId={b.id} reference={b.reference} size="xs" />}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      {trips.hasNextPage && <Button variant="default" loading={trips.isFetchingNextPage} onClick={() => void trips.fetchNextPage()}>{t('more')}</Button>}
    </Stack>
  );
}
