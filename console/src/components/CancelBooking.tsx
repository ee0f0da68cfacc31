/**
 * Cancelling shows the policy's refund first (GET .../cancellation-quote, the same computation
 * the cancellation makes), then cancels on confirmation. A refund that needs a manager is said
 * before and after; a refusal shows the workflow's own words.
 */
import { useRef, useState } from 'react';
import { Alert, Button, Group, Loader, Modal, Stack, Text, TextInput } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, ok } from '../api/client';
import { formatMoney, useLang, useT } from '../i18n';
import { cancelMessages } from './cancel-messages';

export function CancelBooking({ bookingId, reference, size = 'sm' }: { bookingId: string; reference: string; size?: 'xs' | 'sm' }) {
  const t = useT(cancelMessages);
  const [opened, setOpened] = useState(false);
  return (
    <>
      <Button color="red" variant="light" size={size} onClick={() => setOpened(true)} aria-label={size === 'xs' ? `${t('cancel')} ${reference}` : undefined}>{t('cancel')}</Button>
      {opened && <CancelDialog bookingId={bookingId} reference={reference} onClose={() => setOpened(false)} />}
    </>
  );
}

function CancelDialog({ bookingId, reference, onClose }: { bookingId: string; reference: string; onClose: () => void }) {
  const t = useT(cancelMessages);
  const { lang } = useLang();
  const queryClient = useQueryClient();
  const [reason, setReason] = useState('');
  const key = useRef(crypto.randomUUID());
  const quote = useQuery({
    queryKey: ['booking', bookingId, 'cancellation-quote'],
    queryFn: () => ok(api.GET('/api/v1/bookings/{id}/cancellation-quote', { params: { path: { id: bookingId } } })),
    staleTime: 0,
  });
  const cancel = useMutation({
    mutationFn: () => ok(api.POST('/api/v1/bookings/{id}/cancel', {
      params: { path: { id: bookingId }, header: { 'Idempotency-Key': key.current } },
      body: reason.trim() ? { reason: reason.trim() } : {},
    })),
    onSettled: () => {
      void queryClient.invalidateQueries({ queryKey: ['booking', bookingId] });
      void queryClient.invalidateQueries({ queryKey: ['my-trips'] });
      void queryClient.invalidateQueries({ queryKey: ['bookings'] });
    },
    onError: () => { key.current = crypto.randomUUID(); },
  });
  const q = quote.data;
  const money = (minor: number) => formatMoney(minor, q?.refund.currency ?? 'EUR', lang);
  const result = cancel.data;
  return (
    <Modal opened onClose={onClose} title={t('title', { reference })} size="lg">
      <Stack>
        {quote.isPending && <Group><Loader size="sm" aria-label={t('quoting')} /><Text>{t('quoting')}</Text></Group>}
        {quote.error && <Alert color="red" role="alert" title={t('quoteFailed')}>{(quote.error as Error).message}</Alert>}
        {q && !result && (q.cancellable ? (
          <>
            <Text data-testid="refund-quote" data-amount={q.refund.amount}>
              {t('refundLine', { amount: money(q.refund.amount), percent: q.refund.percent, paid: money(q.paid), days: Math.floor(q.daysBeforeDeparture) })}
            </Text>
            {q.needsApproval && <Alert color="yellow" title={t('needsApproval', { reason: q.approvalReason ?? '' })} />}
            <TextInput label={t('reason')} value={reason} onChange={(e) => setReason(e.currentTarget.value)} maxLength={500} />
          </>
        ) : <Alert color="yellow" role="alert">{t('notCancellable', { reason: q.notCancellableBecause ?? '' })}</Alert>)}
        {cancel.error && <Alert color="red" role="alert" title={t('refused')}>{(cancel.error as Error).message}</Alert>}
        {result && (
          <Alert color={result.status === 'cancelled' ? 'green' : 'yellow'} role="status" data-testid="cancel-result" data-status={result.status}>
            {result.status === 'cancelled' ? t('done', { amount: money(result.refund.amount) }) : t('pending', { amount: money(result.refund.amount) })}
          </Alert>
        )}
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>{t('keep')}</Button>
          {!result && q?.cancellable && <Button color="red.9" loading={cancel.isPending} onClick={() => cancel.mutate()}>{t('confirm')}</Button>}
        </Group>
      </Stack>
    </Modal>
  );
}
