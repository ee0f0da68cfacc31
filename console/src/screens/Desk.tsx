/**
 * The booking desk: a departure (tour, then dates), the passengers, the contact; POST
 * /api/v1/bookings holds the seats and the booking's page takes over (payment link, changes).
 * A refused hold says the API's own reason (sold out, too many passengers, ...).
 */
import { useMemo, useRef, useState, type FormEvent } from 'react';
import { Alert, Button, Fieldset, Group, Select, Stack, Text, TextInput, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useLocation } from 'wouter';
import { api, ok } from '../api/client';
import { formatDateTime, useLang, useT, type Lang } from '../i18n';
import { DeparturePicker, type PickedDeparture } from '../components/DeparturePicker';
import { emptyPassenger, PassengersEditor, PAX_TYPES, type PassengerDraft, type PaxType } from '../components/PassengersEditor';
import { deskMessages } from './desk-messages';

/** Every active tour, following the API's cursor (a catalog is a few hundred tours at most). */
async function allTours(lang: Lang) {
  const tours: Array<{ id: string; code: string; title: string; branch: string }> = [];
  let cursor: string | undefined;
  for (let i = 0; i < 20; i++) {
    const page = await ok(api.GET('/api/v1/tours', { params: { query: { lang, limit: 100, cursor } } }));
    tours.push(...page.data.map((x) => ({ id: x.id, code: x.code, title: x.title, branch: x.branch })));
    if (!page.hasMore || !page.nextCursor) break;
    cursor = page.nextCursor;
  }
  return tours;
}

export default function Desk() {
  const t = useT(deskMessages);
  const { lang } = useLang();
  const [, navigate] = useLocation();
  const queryClient = useQueryClient();
  const [tourId, setTourId] = useState<string | null>(null);
  const [departure, setDeparture] = useState<PickedDeparture | null>(null);
  const [passengers, setPassengers] = useState<PassengerDraft[]>([emptyPassenger()]);
  const [contact, setContact] = useState({ name: '', email: '', phone: '' });
  const [language, setLanguage] = useState<Lang>(lang);
  const attempt = useRef(crypto.randomUUID());

  const tours = useQuery({ queryKey: ['tours', lang], queryFn: () => allTours(lang), staleTime: 300_000 });
  const tourOptions = useMemo(() => (tours.data ?? []).map((x) => ({ value: x.id, label: `${x.title} (${x.code}, ${x.branch})` })), [tours.data]);
  const offered = departure ? PAX_TYPES.filter((p) => departure.prices.some((x) => x.paxType === p)) : PAX_TYPES;

  const create = useMutation({
    mutationFn: () => ok(api.POST('/api/v1/bookings', {
      params: { header: { 'Idempotency-Key': attempt.current } },
      body: {
        departureId: departure!.id,
        passengers: passengers.map((p) => ({ type: p.type, firstName: p.firstName.trim(), lastName: p.lastName.trim() })),
        contact: { name: contact.name.trim(), email: contact.email.trim(), ...(contact.phone.trim() ? { phone: contact.phone.trim() } : {}) },
        language,
      },
    })),
    onSuccess: (booking) => {
      attempt.current = crypto.randomUUID();
      void queryClient.invalidateQueries({ queryKey: ['bookings'] });
      navigate(`/bookings/${booking.id}`);
    },
    // A refusal is final for this attempt: a corrected form is a new request.
    onError: () => { attempt.current = crypto.randomUUID(); },
  });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (departure) create.mutate();
  };

  return (
    <form onSubmit={submit} aria-labelledby="desk-title">
      <Stack maw={1000}>
        <Title order={1} id="desk-title">{t('title')}</Title>
        <Fieldset legend={t('departureStep')}>
          <Stack>
            <Select
              label={t('tour')} placeholder={t('tourHint')} searchable clearable limit={50} nothingFoundMessage={t('noDepartures')}
              data={tourOptions} value={tourId} onChange={(v) => { setTourId(v); setDeparture(null); }} w={480}
              error={tours.error ? (tours.error as Error).message : undefined}
            />
            <DeparturePicker tourId={tourId} chosenId={departure?.id} minSeats={passengers.length} onPick={setDeparture} />
            {departure && <Text fw={600} data-testid="chosen-departure">{t('chosenDeparture', { tour: departure.tourTitle, time: formatDateTime(departure.startsAt, lang) })}</Text>}
          </Stack>
        </Fieldset>
        <Fieldset legend={t('passengersStep')}>
          <PassengersEditor value={passengers} onChange={setPassengers} types={offered as readonly PaxType[]} />
        </Fieldset>
        <Fieldset legend={t('contactStep')}>
          <Group align="end" wrap="wrap">
            <TextInput label={t('contactName')} required value={contact.name} onChange={(e) => setContact({ ...contact, name: e.currentTarget.value })} maxLength={120} />
            <TextInput label={t('email')} type="email" required value={contact.email} onChange={(e) => setContact({ ...contact, email: e.currentTarget.value })} maxLength={254} />
            <TextInput label={t('phone')} type="tel" value={contact.phone} onChange={(e) => setContact({ ...contact, phone: e.currentTarget.value })} />
            <Select label={t('language')} value={language} allowDeselect={false} w={140} onChange={(v) => v && setLanguage(v as Lang)}
              data={[{ value: 'es', label: 'Español' }, { value: 'en', label: 'English' }]} />
          </Group>
        </Fieldset>
        {create.error && <Alert color="red" role="alert" title={t('refused')}>{(create.error as Error).message}</Alert>}
        {!departure && <Text size="sm" c="dimmed">{t('needDeparture')}</Text>}
        <Group><Button type="submit" loading={create.isPending} disabled={!departure}>{t('create')}</Button></Group>
      </Stack>
    </form>
  );
}
