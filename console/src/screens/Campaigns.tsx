/**
 * Campaigns: the list (live: ['campaigns'] is refreshed by campaign events) and a new draft with
 * its segment, its template variants and, with two or more, an A/B test as the API takes it
 * (a test share, a metric, hours before the winner is chosen). Scheduling is on the campaign's page.
 */
import { useState } from 'react';
import {
  ActionIcon, Alert, Anchor, Button, Card, Checkbox, Group, Loader, NativeSelect, NumberInput, Paper, Progress, SegmentedControl, SimpleGrid, Stack, Table, Text, TextInput, Title,
} from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useLocation } from 'wouter';
import { StateBadge } from '../components/StateBadge';
import { api, ok, type paths } from '../api/client';
import { usePagedList } from '../api/paged';
import { formatDate, useLang, useT } from '../i18n';
import { campaignsMessages } from './campaigns-messages';

type CampaignStatus = 'draft' | 'scheduled' | 'sending' | 'paused' | 'sent' | 'cancelled';
type CreateBody = paths['/api/v1/campaigns']['post']['requestBody']['content']['application/json'];

export const STATUS_COLOR: Record<CampaignStatus, string> = {
  draft: 'gray', scheduled: 'blue', sending: 'teal', paused: 'yellow', sent: 'green', cancelled: 'red',
};

interface VariantDraft { key: number; name: string; templateId: string }
let nextKey = 1;

function useMarketingOptions() {
  const segments = useQuery({ queryKey: ['segments', 'options'], queryFn: () => ok(api.GET('/api/v1/segments', { params: { query: { limit: 100 } } })), refetchOnMount: 'always' });
  const templates = useQuery({ queryKey: ['templates', 'marketing'], queryFn: () => ok(api.GET('/api/v1/templates', { params: { query: { kind: 'marketing', limit: 100 } } })), refetchOnMount: 'always' });
  return { segments, templates };
}

function NewCampaign() {
  const t = useT(campaignsMessages);
  const [, navigate] = useLocation();
  const queryClient = useQueryClient();
  const { segments, templates } = useMarketingOptions();
  const [name, setName] = useState('');
  const [segmentId, setSegmentId] = useState('');
  const [variants, setVariants] = useState<VariantDraft[]>(() => [{ key: nextKey++, name: 'A', templateId: '' }]);
  const [ab, setAb] = useState(false);
  const [metric, setMetric] = useState<'open' | 'click'>('open');
  const [testPercent, setTestPercent] = useState<number | string>(20);
  const [waitHours, setWaitHours] = useState<number | string>(4);
  const [rate, setRate] = useState<number | string>('');
  const [windowStart, setWindowStart] = useState<number | string>('');
  const [windowEnd, setWindowEnd] = useState<number | string>('');

  const create = useMutation({
    mutationFn: () => {
      const body: CreateBody = {
        name: name.trim(), segmentId, variants: variants.map((v) => ({ name: v.name.trim(), templateId: v.templateId })),
        ...(ab ? { abTest: { metric, testPercent: Number(testPercent), waitHours: Number(waitHours) } } : {}),
        ...(rate !== '' ? { ratePerSecond: Number(rate) } : {}),
        ...(windowStart !== '' && windowEnd !== '' ? { sendWindow: { startHour: Number(windowStart), endHour: Number(windowEnd) } } : {}),
      };
      return ok(api.POST('/api/v1/campaigns', { body, headers: { 'Idempotency-Key': crypto.randomUUID() } }));
    },
    onSuccess: (c) => {
      void queryClient.invalidateQueries({ queryKey: ['campaigns'] });
      navigate(`/campaigns/${c.id}`);
    },
  });

  const templateOptions = [{ value: '', label: t('chooseTemplate') }, ...(templates.data?.data ?? []).map((x) => ({ value: x.id, label: `${x.name} (${x.language})` }))];
  const ready = name.trim() && segmentId && variants.every((v) => v.name.trim() && v.templateId) && (!ab || variants.length >= 2);

  return (
    <Card withBorder component="section" aria-labelledby="new-campaign-title">
      <form onSubmit={(e) => { e.preventDefault(); create.mutate(); }}>
        <Stack>
          <Title order={2} id="new-campaign-title">{t('create')}</Title>
          <SimpleGrid cols={{ base: 1, md: 2 }}>
            <TextInput label={t('name')} required maxLength={200} value={name} onChange={(e) => setName(e.currentTarget.value)} />
            <NativeSelect
              label={t('segment')} required value={segmentId} onChange={(e) => setSegmentId(e.currentTarget.value)}
              data={[{ value: '', label: t('chooseSegment') }, ...(segments.data?.data ?? []).map((s) => ({ value: s.id, label: s.name }))]}
            />
          </SimpleGrid>
          <Title order={3} size="h4">{t('variants')}</Title>
          {variants.map((v, i) => (
            <Paper key={v.key} withBorder p="sm" role="group" aria-label={t('variant', { n: i + 1 })}>
              <Group align="flex-end">
                <TextInput
                  label={t('variantName', { n: i + 1 })} required maxLength={32} w={160} value={v.name}
                  onChange={(e) => { const value = e.currentTarget.value; setVariants((vs) => vs.map((x) => (x.key === v.key ? { ...x, name: value } : x))); }}
                />
                <NativeSelect
                  label={t('variantTemplate', { n: i + 1 })} required style={{ flex: 1 }} data={templateOptions} value={v.templateId}
                  onChange={(e) => { const value = e.currentTarget.value; setVariants((vs) => vs.map((x) => (x.key === v.key ? { ...x, templateId: value } : x))); }}
                />
                {variants.length > 1 && (
                  <ActionIcon variant="subtle" color="red" mb={4} aria-label={t('removeVariant', { n: i + 1 })} onClick={() => setVariants((vs) => vs.filter((x) => x.key !== v.key))}>✕</ActionIcon>
                )}
              </Group>
            </Paper>
          ))}
          <Group>
            <Button
              variant="default" disabled={variants.length >= 5}
              onClick={() => setVariants((vs) => [...vs, { key: nextKey++, name: String.fromCharCode(65 + vs.length), templateId: '' }])}
            >{t('addVariant')}</Button>
          </Group>
          <Checkbox label={t('abTest')} checked={ab} onChange={(e) => setAb(e.currentTarget.checked)} />
          {ab && (
            <Group align="flex-end">
              <Stack gap={4}>
                <Text size="sm" fw={500} id="ab-metric-label">{t('metric')}</Text>
                <SegmentedControl aria-labelledby="ab-metric-label" value={metric} onChange={(v) => setMetric(v as 'open' | 'click')} data={[{ value: 'open', label: t('metricOpen') }, { value: 'click', label: t('metricClick') }]} />
              </Stack>
              <NumberInput label={t('testPercent')} min={1} max={50} value={testPercent} onChange={setTestPercent} w={220} />
              <NumberInput label={t('waitHours')} min={0.5} max={168} step={0.5} value={waitHours} onChange={setWaitHours} w={220} />
            </Group>
          )}
          {ab && variants.length < 2 && <Text size="sm" c="red.8">{t('abNeedsTwo')}</Text>}
          <SimpleGrid cols={{ base: 1, md: 3 }}>
            <NumberInput label={t('rate')} min={1} max={100000} value={rate} onChange={setRate} />
            <NumberInput label={t('windowStart')} min={0} max={23} value={windowStart} onChange={setWindowStart} />
            <NumberInput label={t('windowEnd')} min={1} max={24} value={windowEnd} onChange={setWindowEnd} />
          </SimpleGrid>
          {create.error && <Alert color="red" title={t('createFailed')} role="alert">{(create.error as Error).message}</Alert>}
          <Group><Button type="submit" disabled={!ready} loading={create.isPending}>{t('createButton')}</Button></Group>
        </Stack>
      </form>
    </Card>
  );
}

export default function Campaigns() {
  const t = useT(campaignsMessages);
  const { lang } = useLang();
  const { list, rows } = usePagedList(['campaigns'], (cursor) => ok(api.GET('/api/v1/campaigns', { params: { query: { limit: 20, cursor } } })));

  return (
    <Stack>
      <Title order={1}>{t('title')}</Title>
      {list.error && <Alert color="red" title={t('loadFailed')} role="alert">{(list.error as Error).message}</Alert>}
      {list.isLoading ? <Loader aria-label={t('title')} /> : rows.length === 0 ? <Text c="dimmed">{t('none')}</Text> : (
        <Table striped highlightOnHover aria-label={t('listCaption')}>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>{t('colName')}</Table.Th><Table.Th>{t('colStatus')}</Table.Th><Table.Th>{t('colProgress')}</Table.Th>
              <Table.Th>{t('colAb')}</Table.Th><Table.Th>{t('colCreated')}</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {rows.map((c) => {
              const done = c.counts.sent + c.counts.failed + c.counts.suppressed;
              return (
                <Table.Tr key={c.id}>
                  <Table.Td><Anchor component={Link} href={`/campaigns/${c.id}`}>{c.name}</Anchor></Table.Td>
                  <Table.Td><StateBadge color={STATUS_COLOR[c.status]}>{t(`s_${c.status}`)}</StateBadge></Table.Td>
                  <Table.Td miw={160}>
                    <Text size="xs">{t('sentOf', { sent: c.counts.sent, audience: c.counts.audience })}</Text>
                    <Progress size="sm" value={c.counts.audience ? (100 * done) / c.counts.audience : 0} aria-label={`${c.name}: ${t('sentOf', { sent: c.counts.sent, audience: c.counts.audience })}`} />
                  </Table.Td>
                  <Table.Td>{c.abTest ? t('yes') : t('no')}</Table.Td>
                  <Table.Td>{formatDate(c.createdAt, lang)}</Table.Td>
                </Table.Tr>
              );
            })}
          </Table.Tbody>
        </Table>
      )}
      {list.hasNextPage && <Group><Button variant="default" onClick={() => void list.fetchNextPage()} loading={list.isFetchingNextPage}>{t('more')}</Button></Group>}
      <NewCampaign />
    </Stack>
  );
}
