/**
 * One campaign: its set-up, the live progress bar while it sends (['campaign', id] is refreshed
 * by the campaign events the recipients' rows raise), the steering (schedule, pause, resume,
 * cancel; a refusal shows the workflow's own message) and the results by variant.
 */
import { useState } from 'react';
import { Alert, Anchor, Button, Card, Group, Loader, Progress, SimpleGrid, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link } from 'wouter';
import { StateBadge } from '../components/StateBadge';
import { api, ok } from '../api/client';
import { formatDateTime, useLang, useT } from '../i18n';
import { campaignMessages, campaignsMessages } from './campaigns-messages';
import { STATUS_COLOR } from './Campaigns';

type Action = 'schedule' | 'pause' | 'resume' | 'cancel';

function Figure({ label, value, testId }: { label: string; value: number | string; testId?: string }) {
  return (
    <div>
      <Text size="xs" c="dimmed">{label}</Text>
      <Text fw={700} data-testid={testId}>{value}</Text>
    </div>
  );
}

export default function Campaign({ params }: { params: Record<string, string> }) {
  const t = useT(campaignMessages);
  const ts = useT(campaignsMessages);
  const { lang } = useLang();
  const id = params.id;
  const queryClient = useQueryClient();
  const [at, setAt] = useState('');
  const [confirmCancel, setConfirmCancel] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);

  const campaign = useQuery({ queryKey: ['campaign', id], queryFn: () => ok(api.GET('/api/v1/campaigns/{id}', { params: { path: { id } } })) });
  const c = campaign.data;
  const segment = useQuery({
    queryKey: ['segments', 'options'],
    queryFn: () => ok(api.GET('/api/v1/segments', { params: { query: { limit: 100 } } })),
    refetchOnMount: 'always',
    enabled: !!c,
  });
  const templates = useQuery({
    queryKey: ['templates', 'marketing'],
    queryFn: () => ok(api.GET('/api/v1/templates', { params: { query: { kind: 'marketing', limit: 100 } } })),
    refetchOnMount: 'always',
    enabled: !!c,
  });

  const steer = useMutation({
    mutationFn: (action: Action) => {
      const path = { params: { path: { id } }, headers: { 'Idempotency-Key': crypto.randomUUID() } };
      switch (action) {
        case 'schedule': return ok(api.POST('/api/v1/campaigns/{id}/schedule', { ...path, body: at ? { at: new Date(at).toISOString() } : {} }));
        case 'pause': return ok(api.POST('/api/v1/campaigns/{id}/pause', path));
        case 'resume': return ok(api.POST('/api/v1/campaigns/{id}/resume', path));
        case 'cancel': return ok(api.POST('/api/v1/campaigns/{id}/cancel', path));
      }
    },
    onMutate: () => setNotice(null),
    // A refusal usually means the screen is behind (someone else steered): show what is true now.
    onError: () => { void queryClient.invalidateQueries({ queryKey: ['campaign', id] }); },
    onSuccess: (next) => {
      queryClient.setQueryData(['campaign', id], next);
      // The answer may be older than a live event already shown (a cancel ends a moment later): read again.
      void queryClient.invalidateQueries({ queryKey: ['campaign', id] });
      void queryClient.invalidateQueries({ queryKey: ['campaigns'] });
      setConfirmCancel(false);
      setNotice(t('done', { status: ts(`s_${next.status}`) }));
    },
  });

  if (campaign.isLoading) return <Loader aria-label={t('progress')} />;
  if (!c) {
    return (
      <Stack>
        <Title order={1}>{ts('title')}</Title>
        <Alert color="red" title={t('loadFailed')} role="alert">{(campaign.error as Error | null)?.message}</Alert>
      </Stack>
    );
  }

  const p = c.progress;
  const handled = p.audience - p.remaining;
  const percent = p.audience ? Math.round((100 * handled) / p.audience) : c.status === 'sent' ? 100 : 0;
  const segmentName = segment.data?.data.find((s) => s.id === c.segmentId)?.name ?? c.segmentId;
  const templateName = (tid: string) => {
    const x = templates.data?.data.find((tpl) => tpl.id === tid);
    return x ? `${x.name} (${x.language})` : tid;
  };
  const variantNames = [...new Set([...c.variants.map((v) => v.name), ...Object.keys(c.report)])];
  const steerable = ['scheduled', 'sending', 'paused'].includes(c.status);

  return (
    <Stack>
      <Anchor component={Link} href="/campaigns" size="sm">← {t('back')}</Anchor>
      <Group justify="space-between">
        <Title order={1}>{c.name}</Title>
        <StateBadge size="lg" color={STATUS_COLOR[c.status]} data-testid="campaign-status" data-status={c.status}>{ts(`s_${c.status}`)}</StateBadge>
      </Group>

      <Card withBorder component="section" aria-labelledby="campaign-progress-title">
        <Stack gap="sm">
          <Group justify="space-between">
            <Title order={2} size="h3" id="campaign-progress-title">{t('progress')}</Title>
            {p.phase && <Text size="sm">{t('phase')}: {t(`p_${p.phase}`)}</Text>}
          </Group>
          <Progress.Root size="xl" aria-hidden>
            <Progress.Section value={percent} color={c.status === 'cancelled' ? 'red' : c.status === 'paused' ? 'yellow' : 'teal'} animated={c.status === 'sending'} />
          </Progress.Root>
          <div
            role="progressbar" aria-label={t('progress')} aria-valuemin={0} aria-valuemax={100} aria-valuenow={percent}
            aria-valuetext={t('progressLabel', { done: handled, audience: p.audience })}
            data-testid="campaign-progress" data-percent={percent} data-status={c.status}
          >
            <Text size="sm">{t('progressLabel', { done: handled, audience: p.audience })} ({percent}%)</Text>
          </div>
          <SimpleGrid cols={{ base: 3, md: 7 }}>
            <Figure label={t('audience')} value={p.audience} testId="campaign-audience" />
            <Figure label={t('sent')} value={p.sent} testId="campaign-sent" />
            <Figure label={t('failed')} value={p.failed} />
            <Figure label={t('suppressed')} value={p.suppressed} />
            <Figure label={t('unknown')} value={p.unknown} />
            <Figure label={t('remaining')} value={p.remaining} />
            <Figure label={t('rate')} value={p.ratePerSecond} />
          </SimpleGrid>
          {p.pausedBecause && <Alert color="yellow" role="status">{t('pausedBecause', { why: p.pausedBecause })}</Alert>}

          <Group align="flex-end">
            {c.status === 'draft' && (
              <>
                <TextInput type="datetime-local" label={t('scheduleAt')} value={at} onChange={(e) => setAt(e.currentTarget.value)} />
                <Button onClick={() => steer.mutate('schedule')} loading={steer.isPending && steer.variables === 'schedule'}>{at ? t('scheduleLater') : t('scheduleNow')}</Button>
              </>
            )}
            {steerable && (
              <>
                <Button variant="default" onClick={() => steer.mutate('pause')} disabled={c.status === 'paused'} loading={steer.isPending && steer.variables === 'pause'}>{t('pause')}</Button>
                <Button variant="default" onClick={() => steer.mutate('resume')} disabled={c.status !== 'paused'} loading={steer.isPending && steer.variables === 'resume'}>{t('resume')}</Button>
                <Button color="red" variant="outline" onClick={() => setConfirmCancel(true)}>{t('cancel')}</Button>
              </>
            )}
          </Group>
          {confirmCancel && steerable && (
            <Alert color="red" role="alertdialog" aria-label={t('cancel')}>
              <Group justify="space-between">
                <Text size="sm">{t('cancelConfirm')}</Text>
                <Group gap="xs">
                  <Button size="xs" variant="default" onClick={() => setConfirmCancel(false)}>{ts('no')}</Button>
                  <Button size="xs" color="red" onClick={() => steer.mutate('cancel')} loading={steer.isPending && steer.variables === 'cancel'}>{ts('yes')}</Button>
                </Group>
              </Group>
            </Alert>
          )}
          {steer.error && <Alert color="red" title={t('refused')} role="alert" data-testid="campaign-refusal">{(steer.error as Error).message}</Alert>}
          {notice && !steer.error && <Alert color="teal" role="status">{notice}</Alert>}
        </Stack>
      </Card>

      <Card withBorder component="section" aria-labelledby="campaign-setup-title">
        <Title order={2} size="h3" id="campaign-setup-title" mb="sm">{t('details')}</Title>
        <SimpleGrid cols={{ base: 1, md: 3 }}>
          <Figure label={t('segment')} value={segmentName} />
          <Figure label={t('provider')} value={c.provider} />
          <Figure
            label={t('abTest')}
            value={c.abTest ? t('abSummary', { percent: c.abTest.testPercent, metric: c.abTest.metric === 'open' ? ts('metricOpen') : ts('metricClick'), hours: c.abTest.waitHours }) : t('noAb')}
          />
          <Figure label={t('scheduledAt')} value={formatDateTime(c.scheduledAt, lang)} />
          <Figure label={t('startedAt')} value={formatDateTime(c.startedAt, lang)} />
          <Figure label={t('finishedAt')} value={formatDateTime(c.finishedAt, lang)} />
          {c.winnerVariant && <Figure label={t('winner')} value={c.winnerVariant} />}
        </SimpleGrid>
      </Card>

      <Card withBorder component="section" aria-labelledby="campaign-results-title">
        <Title order={2} size="h3" id="campaign-results-title" mb="sm">{t('results')}</Title>
        {Object.keys(c.report).length === 0 && <Text c="dimmed" mb="xs">{t('noResults')}</Text>}
        <Table aria-label={t('resultsCaption')}>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>{t('colVariant')}</Table.Th><Table.Th>{t('colTemplate')}</Table.Th><Table.Th>{t('colSent')}</Table.Th>
              <Table.Th>{t('colOpens')}</Table.Th><Table.Th>{t('colClicks')}</Table.Th><Table.Th>{t('colOther')}</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {variantNames.map((name) => {
              const r = c.report[name] ?? {};
              const v = c.variants.find((x) => x.name === name);
              const other = Object.entries(r).filter(([k]) => !['sent', 'opens', 'clicks'].includes(k)).map(([k, n]) => `${k}: ${n}`).join(', ');
              const rate = (n = 0) => (r.sent ? `${n} (${Math.round((100 * n) / r.sent)}%)` : String(n));
              return (
                <Table.Tr key={name} data-testid={`variant-${name}`}>
                  <Table.Td>{name}{c.winnerVariant === name ? ' ★' : ''}</Table.Td>
                  <Table.Td>{v ? templateName(v.templateId) : '—'}</Table.Td>
                  <Table.Td>{r.sent ?? 0}</Table.Td>
                  <Table.Td>{rate(r.opens)}</Table.Td>
                  <Table.Td>{rate(r.clicks)}</Table.Td>
                  <Table.Td>{other || '—'}</Table.Td>
                </Table.Tr>
              );
            })}
          </Table.Tbody>
        </Table>
      </Card>
    </Stack>
  );
}
