/** Departures of one tour with seats in a date range, to choose one (the desk; moving a booking). */
import { useState } from 'react';
import { Alert, Button, Group, Stack, Table, Text, TextInput, VisuallyHidden } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { api, ok } from '../api/client';
import { formatDateTime, formatMoney, useLang, useT } from '../i18n';
import { deskMessages } from '../screens/desk-messages';

export interface PickedDeparture { id: string; startsAt: string; tourTitle: string; prices: Array<{ paxType: string }> }

export function DeparturePicker({ tourId, chosenId, excludeId, minSeats, onPick }: {
  tourId: string | null; chosenId?: string | null; excludeId?: string; minSeats?: number; onPick: (d: PickedDeparture) => void;
}) {
  const t = useT(deskMessages);
  const { lang } = useLang();
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const validRange = !from || !to || from < to;
  const departures = useQuery({
    queryKey: ['departures', tourId, from, to, lang, minSeats ?? 1],
    enabled: Boolean(tourId) && validRange,
    queryFn: () => ok(api.GET('/api/v1/departures', { params: { query: { tourId: tourId!, from: from || undefined, to: to || undefined, lang, minSeats: minSeats ?? 1, limit: 20 } } })),
  });
  const rows = (departures.data?.data ?? []).filter((d) => d.id !== excludeId);
  return (
    <Stack gap="xs">
      <Group align="end">
        <TextInput label={t('from')} type="date" value={from} onChange={(e) => setFrom(e.currentTarget.value)} />
        <TextInput label={t('to')} type="date" value={to} onChange={(e) => setTo(e.currentTarget.value)} />
      </Group>
      {!tourId && <Text c="dimmed">{t('pickTour')}</Text>}
      {departures.error && <Alert color="red" role="alert" title={t('loadFailed')}>{(departures.error as Error).message}</Alert>}
      {tourId && departures.isSuccess && (rows.length === 0 ? <Text c="dimmed">{t('noDepartures')}</Text> : (
        <Table striped data-testid="departures-table">
          <Table.Caption>{t('departuresCaption')}</Table.Caption>
          <Table.Thead>
            <Table.Tr><Table.Th>{t('startsAt')}</Table.Th><Table.Th ta="right">{t('seats')}</Table.Th><Table.Th>{t('prices')}</Table.Th><Table.Th><VisuallyHidden>{t('choose')}</VisuallyHidden></Table.Th></Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {rows.map((d) => {
              const time = formatDateTime(d.startsAt, lang);
              return (
                <Table.Tr key={d.id}>
                  <Table.Td>{time}</Table.Td>
                  <Table.Td ta="right">{d.seatsAvailable}</Table.Td>
                  <Table.Td>{d.prices.map((p) => `${t(p.paxType as 'adult')} ${formatMoney(p.amount, d.currency, lang)}`).join(' · ')}</Table.Td>
                  <Table.Td>
                    <Button size="xs" variant={chosenId === d.id ? 'filled' : 'default'} aria-pressed={chosenId === d.id} aria-label={t('chooseDeparture', { time })}
                      onClick={() => onPick({ id: d.id, startsAt: d.startsAt, tourTitle: d.tour.title, prices: d.prices })}>
                      {chosenId === d.id ? t('chosen') : t('choose')}
                    </Button>
                  </Table.Td>
                </Table.Tr>
              );
            })}
          </Table.Tbody>
        </Table>
      ))}
    </Stack>
  );
}
