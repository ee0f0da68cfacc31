/**
 * A booking's page: status, money (from the ledger), passengers, contact, departure, payments,
 * refunds and the timeline, kept current by live events (query key ['booking', id]), so a
 * payment made elsewhere shows up without a reload. Admins and operators steer it (payment
 * link, cancel, change passengers, move departure); each refusal shows the workflow's words.
 * Accountants read; customers and partners see their own (the API scopes) and may cancel.
 */
import { useRef, useState } from 'react';
import { Alert, Anchor, Button, Card, CopyButton, Group, Loader, Modal, SimpleGrid, Stack, Table, Text, TextInput, Timeline, Title } from '@mantine/core';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link } from 'wouter';
import { api, ok } from '../api/client';
import { can, useAuth } from '../auth';
import { formatDate, formatDateTime, formatDeparture, formatMoney, useLang, useT } from '../i18n';
import { StatusBadge } from '../components/StatusBadge';
import { CancelBooking } from '../components/CancelBooking';
import { DeparturePicker } from '../components/DeparturePicker';
import { PassengersEditor, type PassengerDraft } from '../components/PassengersEditor';
import { deskMessages } from './desk-messages';
import { bookingPageMessages } from './booking-page-messages';
import { shellMessages } from '../shell-messages';

const OPEN = ['held', 'awaiting_payment', 'confirmed', 'paid_in_full'];
const CHANGEABLE = ['held', 'confirmed', 'paid_in_full'];

export default function Booking({ params }: { params: Record<string, string> }) {
  const id = params.id;
  const t = useT(bookingPageMessages);
  const tp = useT(deskMessages);
  const ts = useT(shellMessages);
  const { lang } = useLang();
  const { user } = useAuth();
  const staff = can.operate(user?.role);
  const steer = can.steer(user?.role);

  const booking = useQuery({
    queryKey: ['booking', id],
    queryFn: () => ok(api.GET('/api/v1/bookings/{id}', { params: { path: { id } } })),
  });
  const b = booking.data;
  const departure = useQuery({
    queryKey: ['booking', id, 'departure', b?.departureId, lang],
    enabled: Boolean(b?.departureId),
    // A move changes the key: the old departure stays shown (and the move's dialog open) until the new one loads.
    placeholderData: keepPreviousData,
    queryFn: () => ok(api.GET('/api/v1/departures/{id}', { params: { path: { id: b!.departureId }, query: { lang } } })),
  });
  const settings = useQuery({
    queryKey: ['console-settings'],
    enabled: staff,
    staleTime: Infinity,
    queryFn: () => ok(api.GET('/api/v1/console/settings')),
  });

  if (booking.isPending) return <Loader aria-label={ts('loading')} />;
  if (booking.error || !b) return <Alert color="red" role="alert" title={t('loadFailed')}>{(booking.error as Error)?.message}</Alert>;

  const money = (minor: number) => formatMoney(minor, b.price.currency, lang);
  // Event types are the workflow's codes: the known ones in words, a new one as its code.
  const eventTitle = (type: string) => {
    const key = `ev_${type.replace(/\./g, '_')}`;
    return key in bookingPageMessages.en ? t(key as keyof typeof bookingPageMessages.en) : type.replace(/[._]/g, ' ');
  };
  const actorName = (actor: string) => {
    if (actor === 'workflow') return t('actorWorkflow');
    if (actor === 'system') return t('actorSystem');
    if (actor.startsWith('agent:')) return actor.slice(6);
    if (actor.startsWith('user:')) return actor.slice(5) === user?.id ? t('actorYou') : t('actorStaff');
    return actor;
  };
  const d = departure.data;
  const open = OPEN.includes(b.status);
  const workflowUrl = settings.data?.temporalUiUrl && b.workflowId
    ? `${settings.data.temporalUiUrl}/namespaces/${encodeURIComponent(settings.data.temporalNamespace)}/workflows/${encodeURIComponent(b.workflowId)}`
    : null;

  return (
    <Stack maw={1200}>
      <Group justify="space-between" align="center">
        <Group>
          <Title order={1}>{t('title', { reference: b.reference })}</Title>
          <StatusBadge status={b.status} testId="booking-status" />
        </Group>
        {workflowUrl && <Anchor href={workflowUrl} target="_blank" rel="noreferrer" data-testid="workflow-link">{t('workflow')}</Anchor>}
      </Group>

      {b.pendingApproval && (
        <Alert color="yellow" data-testid="pending-approval">{t('pendingApproval', { amount: money(b.pendingApproval.refundMinor), reason: b.pendingApproval.reason })}</Alert>
      )}
      {b.pendingAction && (
        <Alert color="blue">{t('pendingAction')} <Anchor href={b.pendingAction.actionUrl} target="_blank" rel="noreferrer" underline="always">{t('openAction')}</Anchor></Alert>
      )}

      <SimpleGrid cols={{ base: 1, md: 3 }}>
        <Card withBorder>
          <Title order={2} size="h4" mb="xs">{t('amounts')}</Title>
          <Table withRowBorders={false} aria-label={t('amounts')}>
            <Table.Tbody>
              <Table.Tr><Table.Th scope="row">{t('total')}</Table.Th><Table.Td ta="right" data-testid="amount-total">{money(b.price.total)}</Table.Td></Table.Tr>
              <Table.Tr><Table.Th scope="row">{t('paid')}</Table.Th><Table.Td ta="right" data-testid="amount-paid" data-minor={b.price.paid}>{money(b.price.paid)}</Table.Td></Table.Tr>
              <Table.Tr><Table.Th scope="row">{t('refunded')}</Table.Th><Table.Td ta="right" data-testid="amount-refunded" data-minor={b.price.refunded}>{money(b.price.refunded)}</Table.Td></Table.Tr>
              <Table.Tr><Table.Th scope="row">{t('due')}</Table.Th><Table.Td ta="right" data-testid="amount-due" data-minor={b.price.due}>{money(b.price.due)}</Table.Td></Table.Tr>
            </Table.Tbody>
          </Table>
          {b.paymentPlan === 'deposit' && <Text size="sm" c="dimmed">{t('deposit')}: {money(b.price.deposit)}</Text>}
          {b.status === 'held' && b.holdExpiresAt && <Text size="sm" c="dimmed">{t('holdUntil', { time: formatDateTime(b.holdExpiresAt, lang) })}</Text>}
          {b.balanceDueOn && b.price.due > 0 && <Text size="sm" c="dimmed">{t('balanceDueOn', { date: formatDate(b.balanceDueOn, lang) })}</Text>}
        </Card>
        <Card withBorder>
          <Title order={2} size="h4" mb="xs">{t('departure')}</Title>
          {d ? (
            <Stack gap={4}>
              <Text fw={600} data-testid="departure-tour">{d.tour.title}</Text>
              <Text data-testid="departure-time">{formatDeparture(d.startsAt, lang, d.timezone)}</Text>
              {/* The manifest is the departure's branch's (an operator may sell another branch's tour, not run it). */}
              {staff && (user?.role === 'admin' || user?.branchId === b.branchId) && <Anchor component={Link} href={`/departures/${d.id}/manifest`}>{t('manifest')}</Anchor>}
            </Stack>
          ) : <Loader size="sm" aria-label={ts('loading')} />}
        </Card>
        <Card withBorder>
          <Title order={2} size="h4" mb="xs">{t('contact')}</Title>
          <Text>{b.contact.name}</Text>
          <Anchor href={`mailto:${b.contact.email}`}>{b.contact.email}</Anchor>
          {b.contact.phone && <Text>{b.contact.phone}</Text>}
        </Card>
      </SimpleGrid>

      {open && (steer || user?.role === 'customer' || user?.role === 'partner') && (
        <Card withBorder>
          <Title order={2} size="h4" mb="xs">{t('actions')}</Title>
          <Group align="start">
            {steer && b.price.due > 0 && <PaymentLink bookingId={b.id} />}
            {steer && CHANGEABLE.includes(b.status) && <ChangePassengers bookingId={b.id} current={b.passengers} />}
            {steer && CHANGEABLE.includes(b.status) && d && <MoveDeparture bookingId={b.id} tourId={d.tour.id} currentId={b.departureId} pax={b.paxCount} />}
            <CancelBooking bookingId={b.id} reference={b.reference} />
          </Group>
        </Card>
      )}
      {staff && !steer && <Text size="sm" c="dimmed">{t('readOnly')}</Text>}

      <Title order={2} size="h4">{t('passengers')}</Title>
      <Table striped aria-label={t('passengersCaption')}>
        <Table.Thead><Table.Tr><Table.Th>{t('name')}</Table.Th><Table.Th>{t('type')}</Table.Th><Table.Th>{t('birthDate')}</Table.Th></Table.Tr></Table.Thead>
        <Table.Tbody>
          {b.passengers.map((p) => (
            <Table.Tr key={p.id} data-testid="passenger-row"><Table.Td>{p.firstName} {p.lastName}</Table.Td><Table.Td>{tp(p.type)}</Table.Td><Table.Td>{formatDate(p.birthDate, lang)}</Table.Td></Table.Tr>
          ))}
        </Table.Tbody>
      </Table>

      <SimpleGrid cols={{ base: 1, md: 2 }}>
        <Stack gap="xs">
          <Title order={2} size="h4">{t('payments')}</Title>
          {b.payments.length === 0 ? <Text c="dimmed">{t('noPayments')}</Text> : (
            <Table striped aria-label={t('paymentsCaption')}>
              <Table.Thead><Table.Tr><Table.Th>{t('when')}</Table.Th><Table.Th>{t('purpose')}</Table.Th><Table.Th>{t('provider')}</Table.Th><Table.Th>{t('status')}</Table.Th><Table.Th ta="right">{t('amount')}</Table.Th></Table.Tr></Table.Thead>
              <Table.Tbody>
                {b.payments.map((p) => (
                  <Table.Tr key={p.id} data-testid="payment-row" data-status={p.status}>
                    <Table.Td>{formatDateTime(p.createdAt, lang)}</Table.Td>
                    <Table.Td>{t(`p_${p.purpose}`)}</Table.Td>
                    <Table.Td>{p.provider}</Table.Td>
                    <Table.Td>{t(`pay_${p.status}`)}{p.failureReason ? ` — ${p.failureReason}` : ''}</Table.Td>
                    <Table.Td ta="right">{formatMoney(p.amount, p.currency, lang)}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          )}
        </Stack>
        <Stack gap="xs">
          <Title order={2} size="h4">{t('refunds')}</Title>
          {b.refunds.length === 0 ? <Text c="dimmed">{t('noRefunds')}</Text> : (
            <Table striped aria-label={t('refundsCaption')}>
              <Table.Thead><Table.Tr><Table.Th>{t('when')}</Table.Th><Table.Th>{t('status')}</Table.Th><Table.Th>{t('reason')}</Table.Th><Table.Th ta="right">{t('amount')}</Table.Th></Table.Tr></Table.Thead>
              <Table.Tbody>
                {b.refunds.map((r) => (
                  <Table.Tr key={r.id} data-testid="refund-row" data-status={r.status}>
                    <Table.Td>{formatDateTime(r.createdAt, lang)}</Table.Td>
                    <Table.Td>{t(`ref_${r.status}`)}</Table.Td>
                    <Table.Td>{r.reason ?? ''}</Table.Td>
                    <Table.Td ta="right">{formatMoney(r.amount, r.currency, lang)}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          )}
        </Stack>
      </SimpleGrid>

      <Title order={2} size="h4">{t('timeline')}</Title>
      <Timeline bulletSize={14} lineWidth={2} active={b.timeline.length - 1} data-testid="timeline" aria-label={t('timeline')}>
        {b.timeline.map((e, i) => (
          <Timeline.Item key={i} title={eventTitle(e.type)} data-testid="timeline-event" data-type={e.type}>
            <Text size="xs" c="dimmed">{formatDateTime(e.at, lang)}{e.actor ? ` · ${t('by', { actor: actorName(e.actor) })}` : ''}</Text>
          </Timeline.Item>
        ))}
      </Timeline>
    </Stack>
  );
}

function PaymentLink({ bookingId }: { bookingId: string }) {
  const t = useT(bookingPageMessages);
  const { lang } = useLang();
  const make = useMutation({
    mutationFn: () => ok(api.POST('/api/v1/bookings/{id}/payment-link', { params: { path: { id: bookingId } } })),
  });
  return (
    <Stack gap="xs" maw={520} align="flex-start">
      <Button variant="default" loading={make.isPending} onClick={() => make.mutate()}>{t('makeLink')}</Button>
      {make.error && <Alert color="red" role="alert" title={t('refused')}>{(make.error as Error).message}</Alert>}
      {make.data && (
        <>
          <Group align="end" wrap="nowrap">
            <TextInput label={t('linkLabel')} readOnly value={make.data.url} w={380} data-testid="payment-link" onFocus={(e) => e.currentTarget.select()} />
            <CopyButton value={make.data.url}>{({ copied, copy }) => <Button variant="default" onClick={copy}>{copied ? t('copied') : t('copy')}</Button>}</CopyButton>
          </Group>
          <Text size="xs" c="dimmed">{t('linkExpires', { time: formatDateTime(make.data.expiresAt, lang) })} <Anchor href={make.data.url} target="_blank" rel="noreferrer" underline="always">{t('openLink')}</Anchor></Text>
        </>
      )}
    </Stack>
  );
}

/** One amendment at a time; the idempotency key lives as long as the dialog's attempt. */
function useAmend(bookingId: string) {
  const queryClient = useQueryClient();
  const key = useRef(crypto.randomUUID());
  return useMutation({
    mutationFn: (body: { passengers?: PassengerDraft[]; departureId?: string }) => ok(api.POST('/api/v1/bookings/{id}/amendments', {
      params: { path: { id: bookingId }, header: { 'Idempotency-Key': key.current } },
      body: {
        ...(body.passengers ? { passengers: body.passengers.map((p) => ({ type: p.type, firstName: p.firstName.trim(), lastName: p.lastName.trim() })) } : {}),
        ...(body.departureId ? { departureId: body.departureId } : {}),
      },
    })),
    onSettled: () => {
      key.current = crypto.randomUUID();
      void queryClient.invalidateQueries({ queryKey: ['booking', bookingId] });
    },
  });
}

function AmendResult({ amend }: { amend: ReturnType<typeof useAmend> }) {
  const t = useT(bookingPageMessages);
  const { lang } = useLang();
  if (amend.error) return <Alert color="red" role="alert" title={t('refused')}>{(amend.error as Error).message}</Alert>;
  const r = amend.data;
  if (!r) return null;
  const money = (minor: number) => formatMoney(minor, r.price.currency, lang);
  return <Alert color="green" role="status">{t('amended', { total: money(r.price.total), due: money(r.price.due), refund: money(r.refund.amount) })}</Alert>;
}

function ChangePassengers({ bookingId, current }: { bookingId: string; current: Array<{ type: 'adult' | 'child' | 'infant'; firstName: string; lastName: string }> }) {
  const t = useT(bookingPageMessages);
  const [opened, setOpened] = useState(false);
  const [draft, setDraft] = useState<PassengerDraft[]>([]);
  const amend = useAmend(bookingId);
  return (
    <>
      <Button variant="default" onClick={() => { setDraft(current.map((p) => ({ type: p.type, firstName: p.firstName, lastName: p.lastName }))); amend.reset(); setOpened(true); }}>{t('changePassengers')}</Button>
      <Modal opened={opened} onClose={() => setOpened(false)} title={t('changePassengers')} size="xl">
        <form onSubmit={(e) => { e.preventDefault(); amend.mutate({ passengers: draft }); }}>
          <Stack>
            <PassengersEditor value={draft} onChange={setDraft} />
            <AmendResult amend={amend} />
            <Group justify="flex-end">
              <Button variant="default" onClick={() => setOpened(false)}>{t('close')}</Button>
              <Button type="submit" loading={amend.isPending}>{t('save')}</Button>
            </Group>
          </Stack>
        </form>
      </Modal>
    </>
  );
}

function MoveDeparture({ bookingId, tourId, currentId, pax }: { bookingId: string; tourId: string; currentId: string; pax: number }) {
  const t = useT(bookingPageMessages);
  const [opened, setOpened] = useState(false);
  const [target, setTarget] = useState<string | null>(null);
  const amend = useAmend(bookingId);
  return (
    <>
      <Button variant="default" onClick={() => { setTarget(null); amend.reset(); setOpened(true); }}>{t('moveDeparture')}</Button>
      <Modal opened={opened} onClose={() => setOpened(false)} title={t('moveDeparture')} size="xl">
        <Stack>
          <DeparturePicker tourId={tourId} excludeId={currentId} chosenId={target} minSeats={pax} onPick={(d) => setTarget(d.id)} />
          <AmendResult amend={amend} />
          <Group justify="flex-end">
            <Button variant="default" onClick={() => setOpened(false)}>{t('close')}</Button>
            <Button disabled={!target} loading={amend.isPending} onClick={() => target && amend.mutate({ departureId: target })}>{t('moveTo')}</Button>
          </Group>
        </Stack>
      </Modal>
    </>
  );
}
