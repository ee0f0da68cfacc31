/**
 * The approvals inbox: each pending approval says what approving does (the API's `what`) and
 * its amount; approve (optional note) or reject (a reason is required). Live: approvals
 * arriving or decided elsewhere refresh the list (query key ['approvals']).
 */
import { useRef, useState } from 'react';
import { Alert, Anchor, Button, Card, Group, Stack, Text, Textarea, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link } from 'wouter';
import { api, ok, type paths } from '../api/client';
import { useAuth } from '../auth';
import { formatDateTime, formatMoney, useLang, useT } from '../i18n';
import { shellMessages } from '../shell-messages';
import { approvalsMessages } from './approvals-messages';

type Approval = paths['/api/v1/approvals']['get']['responses'][200]['content']['application/json']['data'][number];

const ROLE_KEY = { admin: 'roleAdmin', operator: 'roleOperator', marketer: 'roleMarketer', accountant: 'roleAccountant', partner: 'rolePartner', customer: 'roleCustomer' } as const;

export default function Approvals() {
  const t = useT(approvalsMessages);
  const list = useQuery({
    queryKey: ['approvals', 'pending'],
    queryFn: () => ok(api.GET('/api/v1/approvals', { params: { query: { status: 'pending', limit: 100 } } })),
  });
  const items = list.data?.data ?? [];
  return (
    <Stack maw={900}>
      <Title order={1}>{t('title')}</Title>
      <Text c="dimmed">{t('intro')}</Text>
      {list.error && <Alert color="red" role="alert" title={t('loadFailed')}>{(list.error as Error).message}</Alert>}
      {list.isSuccess && items.length === 0 && <Text data-testid="approvals-empty">{t('none')}</Text>}
      {items.map((a) => <ApprovalCard key={a.id} approval={a} />)}
    </Stack>
  );
}

function ApprovalCard({ approval: a }: { approval: Approval }) {
  const t = useT(approvalsMessages);
  const ts = useT(shellMessages);
  const { lang } = useLang();
  const { user } = useAuth();
  const queryClient = useQueryClient();
  const [note, setNote] = useState('');
  const [missingReason, setMissingReason] = useState(false);
  const key = useRef(crypto.randomUUID());
  const mayDecide = Boolean(user && a.deciders.includes(user.role));
  const decide = useMutation({
    mutationFn: (action: 'approve' | 'reject') => ok(api.POST(action === 'approve' ? '/api/v1/approvals/{id}/approve' : '/api/v1/approvals/{id}/reject', {
      params: { path: { id: a.id }, header: { 'Idempotency-Key': `${key.current}-${action}` } },
      body: note.trim() ? { reason: note.trim() } : {},
    })),
    onSettled: () => {
      key.current = crypto.randomUUID();
      void queryClient.invalidateQueries({ queryKey: ['approvals'] });
      if (a.bookingId) void queryClient.invalidateQueries({ queryKey: ['booking', a.bookingId] });
    },
  });
  const who = a.requestedBy.kind === 'agent' ? t('agent', { id: a.requestedBy.id ?? '' }) : a.requestedBy.kind === 'user' ? t('user') : t('system');
  const headingId = `approval-${a.id}`;
  return (
    <Card withBorder component="article" aria-labelledby={headingId} data-testid="approval" data-approval-id={a.id} data-booking-id={a.bookingId ?? ''}>
      <Stack gap="xs">
        <Title order={2} size="h4" id={headingId}>{t(`k_${a.kind}`)}</Title>
        <Text fw={600} data-testid="approval-what">{a.what}</Text>
        {a.amount !== null && a.currency && <Text size="sm">{t('amount', { amount: formatMoney(a.amount, a.currency, lang) })}</Text>}
        <Text size="sm">{t('why', { reason: a.reason })}</Text>
        <Text size="sm" c="dimmed">{t('requested', { time: formatDateTime(a.requestedAt, lang), who })}</Text>
        {a.expiresAt && <Text size="sm" c="dimmed">{t('expires', { time: formatDateTime(a.expiresAt, lang), outcome: t(`onExpiry_${a.onExpiry}`) })}</Text>}
        <Text size="sm" c="dimmed">{t('deciders', { roles: a.deciders.map((r) => ts(ROLE_KEY[r as keyof typeof ROLE_KEY] ?? 'roleAdmin')).join(', ') })}</Text>
        <Group>
          {a.bookingId && <Anchor component={Link} href={`/bookings/${a.bookingId}`}>{t('booking')}</Anchor>}
          {a.agentRunId && <Anchor component={Link} href={`/agents/runs/${a.agentRunId}`}>{t('agentRun')}</Anchor>}
        </Group>
        {mayDecide ? (
          <>
            <Textarea label={t('note')} value={note} maxLength={500} autosize minRows={2}
              error={missingReason ? t('reasonRequired') : undefined}
              onChange={(e) => { setNote(e.currentTarget.value); setMissingReason(false); }} />
            {decide.error && <Alert color="red" role="alert" title={t('refused')}>{(decide.error as Error).message}</Alert>}
            {decide.data && <Alert color="green" role="status">{t('decided', { status: t(decide.data.status === 'approved' ? 'onExpiry_approve' : 'onExpiry_reject') })}</Alert>}
            <Group>
              <Button loading={decide.isPending && decide.variables === 'approve'} disabled={decide.isPending || Boolean(decide.data)} onClick={() => decide.mutate('approve')}>{t('approve')}</Button>
              <Button color="red" variant="light" loading={decide.isPending && decide.variables === 'reject'} disabled={decide.isPending || Boolean(decide.data)}
                onClick={() => (note.trim() ? decide.mutate('reject') : setMissingReason(true))}>{t('reject')}</Button>
            </Group>
          </>
        ) : <Text size="sm" c="dimmed">{t('notYours')}</Text>}
      </Stack>
    </Card>
  );
}
