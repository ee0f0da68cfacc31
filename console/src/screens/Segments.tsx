/**
 * The segment builder: conditions joined by all/any, each one optionally negated (the API's
 * all/any/not tree, one level deep here), counted live as the rules change (debounced, on
 * POST /api/v1/segments/count so nothing is saved to count), then saved. Saved segments below.
 */
import { useMemo, useState } from 'react';
import {
  ActionIcon, Alert, Badge, Button, Card, Checkbox, Group, Loader, NativeSelect, NumberInput, Paper, SegmentedControl, Stack, Table, Text, TextInput, Title,
} from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, ok, type paths } from '../api/client';
import { usePagedList } from '../api/paged';
import { formatDate, useLang, useT } from '../i18n';
import { segmentsMessages } from './segments-messages';

type Rules = paths['/api/v1/segments/count']['post']['requestBody']['content']['application/json']['rules'];
type Messages = typeof segmentsMessages.en;

type Field = 'language' | 'country' | 'source' | 'timezone' | 'tag' | 'created' | 'birthday_month' | 'booked_tour' | 'booked_destination'
  | 'last_trip' | 'total_spend' | 'opened' | 'clicked';
type ValueKind = 'text' | 'days' | 'month' | 'money' | 'language' | 'source';

/** What each field accepts, as models/segments.ts conditionSchema says. */
const FIELDS: Record<Field, { ops: string[]; kind: ValueKind }> = {
  language: { ops: ['eq', 'neq', 'in'], kind: 'language' },
  country: { ops: ['eq', 'neq', 'in'], kind: 'text' },
  source: { ops: ['eq', 'neq', 'in'], kind: 'source' },
  timezone: { ops: ['eq', 'neq', 'in'], kind: 'text' },
  tag: { ops: ['has', 'lacks'], kind: 'text' },
  created: { ops: ['within_days', 'older_than_days'], kind: 'days' },
  birthday_month: { ops: ['eq'], kind: 'month' },
  booked_tour: { ops: ['eq'], kind: 'text' },
  booked_destination: { ops: ['eq'], kind: 'text' },
  last_trip: { ops: ['within_days', 'older_than_days'], kind: 'days' },
  total_spend: { ops: ['gte', 'lte'], kind: 'money' },
  opened: { ops: ['within_days', 'not_within_days'], kind: 'days' },
  clicked: { ops: ['within_days', 'not_within_days'], kind: 'days' },
};
const SOURCES = ['customer', 'lead', 'partner', 'import', 'api'];

export interface ConditionDraft { key: number; field: Field; op: string; value: string; currency: string; negate: boolean }

let nextKey = 1;
const newCondition = (field: Field = 'tag'): ConditionDraft => ({ key: nextKey++, field, op: FIELDS[field].ops[0], value: '', currency: 'EUR', negate: false });

/** A draft condition as the API's condition, or null while it has no usable value. */
function toCondition(c: ConditionDraft): Rules | null {
  const v = c.value.trim();
  if (!v) return null;
  const { kind } = FIELDS[c.field];
  if (c.op === 'in') {
    const list = v.split(',').map((s) => s.trim()).filter(Boolean);
    return list.length ? ({ field: c.field, op: 'in', value: list } as Rules) : null;
  }
  if (kind === 'days' || kind === 'month') {
    const n = Number(v);
    return Number.isInteger(n) && n >= 0 ? ({ field: c.field, op: c.op, value: n } as Rules) : null;
  }
  if (kind === 'money') {
    const n = Number(v);
    // Amounts are typed in major units; the API counts minor units.
    return Number.isFinite(n) && n >= 0 && /^[A-Z]{3}$/.test(c.currency) ? ({ field: c.field, op: c.op, value: Math.round(n * 100), currency: c.currency } as Rules) : null;
  }
  return { field: c.field, op: c.op, value: v } as Rules;
}

export function rulesOf(combinator: 'all' | 'any', conditions: ConditionDraft[]): Rules | null {
  const parts = conditions.flatMap((c) => {
    const cond = toCondition(c);
    if (!cond) return [];
    return [c.negate ? ({ not: cond } as Rules) : cond];
  });
  if (!parts.length) return null;
  return (combinator === 'all' ? { all: parts } : { any: parts }) as Rules;
}

/** Saved rules back into the builder, when they are one all/any level of (negated) conditions. */
function draftOf(rules: unknown): { combinator: 'all' | 'any'; conditions: ConditionDraft[] } | null {
  const r = rules as Record<string, unknown>;
  const combinator = 'all' in r ? 'all' : 'any' in r ? 'any' : null;
  const items = (combinator ? r[combinator] : [r]) as Array<Record<string, unknown>>;
  const conditions: ConditionDraft[] = [];
  for (const item of items) {
    const negate = 'not' in item;
    const c = (negate ? item.not : item) as { field?: Field; op?: string; value?: unknown; currency?: string };
    if (!c.field || !(c.field in FIELDS)) return null;
    const value = Array.isArray(c.value) ? c.value.join(', ') : c.field === 'total_spend' ? String(Number(c.value) / 100) : String(c.value);
    conditions.push({ key: nextKey++, field: c.field, op: c.op ?? FIELDS[c.field].ops[0], value, currency: c.currency ?? 'EUR', negate });
  }
  return { combinator: combinator ?? 'all', conditions };
}

function ConditionRow({ c, n, onChange, onRemove }: { c: ConditionDraft; n: number; onChange: (c: ConditionDraft) => void; onRemove: () => void }) {
  const t = useT(segmentsMessages);
  const spec = FIELDS[c.field];
  const valueLabel = c.op === 'in' ? t('valueList') : spec.kind === 'money' ? t('amount') : t('value');
  const valueInput = (() => {
    if (c.op !== 'in' && spec.kind === 'language') {
      return <NativeSelect label={valueLabel} data={[{ value: '', label: '—' }, { value: 'es', label: 'es' }, { value: 'en', label: 'en' }]} value={c.value} onChange={(e) => onChange({ ...c, value: e.currentTarget.value })} />;
    }
    if (c.op !== 'in' && spec.kind === 'source') {
      return <NativeSelect label={valueLabel} data={[{ value: '', label: '—' }, ...SOURCES.map((s) => ({ value: s, label: s }))]} value={c.value} onChange={(e) => onChange({ ...c, value: e.currentTarget.value })} />;
    }
    if (spec.kind === 'days' || spec.kind === 'month' || spec.kind === 'money') {
      return (
        <NumberInput
          label={valueLabel} min={spec.kind === 'month' ? 1 : 0} max={spec.kind === 'month' ? 12 : undefined} allowDecimal={spec.kind === 'money'}
          value={c.value} onChange={(v) => onChange({ ...c, value: String(v) })} w={160}
        />
      );
    }
    return <TextInput label={valueLabel} value={c.value} onChange={(e) => onChange({ ...c, value: e.currentTarget.value })} />;
  })();
  return (
    <Paper withBorder p="sm" role="group" aria-label={t('condition', { n })}>
      <Group align="flex-end" wrap="wrap" gap="sm">
        <NativeSelect
          label={t('field')}
          data={(Object.keys(FIELDS) as Field[]).map((f) => ({ value: f, label: t(`f_${f}` as keyof Messages) }))}
          value={c.field}
          onChange={(e) => {
            const field = e.currentTarget.value as Field;
            onChange({ ...c, field, op: FIELDS[field].ops[0], value: '' });
          }}
        />
        <NativeSelect
          label={t('operator')}
          data={spec.ops.map((o) => ({ value: o, label: t(`o_${o}` as keyof Messages) }))}
          value={c.op}
          onChange={(e) => onChange({ ...c, op: e.currentTarget.value })}
        />
        {valueInput}
        {spec.kind === 'money' && (
          <TextInput label={t('currency')} w={90} maxLength={3} value={c.currency} onChange={(e) => onChange({ ...c, currency: e.currentTarget.value.toUpperCase() })} />
        )}
        <Checkbox label={t('negate')} checked={c.negate} onChange={(e) => onChange({ ...c, negate: e.currentTarget.checked })} mb={8} />
        <ActionIcon variant="subtle" color="red" aria-label={t('remove', { n })} onClick={onRemove} mb={4}>✕</ActionIcon>
      </Group>
    </Paper>
  );
}

function SavedSegments({ onLoad }: { onLoad: (rules: unknown) => void }) {
  const t = useT(segmentsMessages);
  const { lang } = useLang();
  const { list, rows } = usePagedList(['segments'], (cursor) => ok(api.GET('/api/v1/segments', { params: { query: { limit: 20, cursor } } })));
  return (
    <Stack>
      <Title order={2}>{t('savedSegments')}</Title>
      {list.error && <Alert color="red" title={t('loadFailed')} role="alert">{(list.error as Error).message}</Alert>}
      {list.isLoading ? <Loader size="sm" aria-label={t('counting')} /> : rows.length === 0 ? <Text c="dimmed">{t('none')}</Text> : (
        <Table striped aria-label={t('savedCaption')}>
          <Table.Thead>
            <Table.Tr><Table.Th>{t('colName')}</Table.Th><Table.Th>{t('colRules')}</Table.Th><Table.Th>{t('colCreated')}</Table.Th><Table.Th /></Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {rows.map((s) => (
              <Table.Tr key={s.id}>
                <Table.Td>{s.name}</Table.Td>
                <Table.Td><Text size="xs" ff="monospace" lineClamp={2}>{JSON.stringify(s.rules)}</Text></Table.Td>
                <Table.Td>{formatDate(s.createdAt, lang)}</Table.Td>
                <Table.Td><Button size="xs" variant="default" onClick={() => onLoad(s.rules)} aria-label={`${t('load')}: ${s.name}`}>{t('load')}</Button></Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
      {list.hasNextPage && <Button variant="default" onClick={() => void list.fetchNextPage()} loading={list.isFetchingNextPage}>{t('more')}</Button>}
    </Stack>
  );
}

export default function Segments() {
  const t = useT(segmentsMessages);
  const queryClient = useQueryClient();
  const [combinator, setCombinator] = useState<'all' | 'any'>('all');
  const [conditions, setConditions] = useState<ConditionDraft[]>(() => [newCondition()]);
  const [name, setName] = useState('');
  const [notice, setNotice] = useState<string | null>(null);
  const [loadError, setLoadError] = useState(false);

  const rules = useMemo(() => rulesOf(combinator, conditions), [combinator, conditions]);
  const rulesJson = rules ? JSON.stringify(rules) : '';
  const [debounced] = useDebouncedValue(rulesJson, 350);

  const count = useQuery({
    queryKey: ['segment-count', debounced],
    queryFn: () => ok(api.POST('/api/v1/segments/count', { body: { rules: JSON.parse(debounced) as Rules } })),
    enabled: !!debounced,
    placeholderData: keepPreviousData,
    staleTime: 5_000,
  });
  // The count on screen belongs to the rules on screen only when nothing is waiting or loading.
  const settled = !!rulesJson && debounced === rulesJson && !count.isFetching && !count.isPlaceholderData && !!count.data;

  const save = useMutation({
    mutationFn: () => ok(api.POST('/api/v1/segments', { body: { name: name.trim(), rules: rules! } })),
    onSuccess: (s) => {
      setNotice(t('saved', { name: s.name }));
      setName('');
      void queryClient.invalidateQueries({ queryKey: ['segments'] });
    },
  });

  const update = (key: number, next: ConditionDraft) => setConditions((cs) => cs.map((c) => (c.key === key ? next : c)));
  const incomplete = conditions.some((c) => !toCondition(c));

  return (
    <Stack>
      <Title order={1}>{t('title')}</Title>
      <Card withBorder component="section" aria-labelledby="segment-builder-title">
        <Stack>
          <Title order={2} id="segment-builder-title">{t('builder')}</Title>
          <Group gap="sm">
            <Text id="segment-match-label">{t('match')}</Text>
            <SegmentedControl
              aria-labelledby="segment-match-label"
              value={combinator}
              onChange={(v) => setCombinator(v as 'all' | 'any')}
              data={[{ value: 'all', label: t('matchAll') }, { value: 'any', label: t('matchAny') }]}
            />
          </Group>
          {conditions.map((c, i) => (
            <ConditionRow key={c.key} c={c} n={i + 1} onChange={(next) => update(c.key, next)} onRemove={() => setConditions((cs) => cs.filter((x) => x.key !== c.key))} />
          ))}
          <Group>
            <Button variant="default" onClick={() => setConditions((cs) => [...cs, newCondition()])} disabled={conditions.length >= 50}>{t('add')}</Button>
          </Group>
          {loadError && <Alert color="yellow" role="status">{t('cannotLoad')}</Alert>}
          {incomplete && rules && <Text size="sm" c="dimmed">{t('incomplete')}</Text>}

          <Paper withBorder p="md" aria-live="polite" aria-labelledby="segment-count-title">
            <Title order={3} size="h4" id="segment-count-title">{t('count')}</Title>
            {!rules ? <Text c="dimmed">{t('noConditions')}</Text> : count.error ? (
              <Alert color="red" title={t('countFailed')} role="alert">{(count.error as Error).message}</Alert>
            ) : (
              <Group gap="xl" align="flex-end" data-testid="segment-count" data-settled={settled ? 'true' : 'false'}>
                <div>
                  <Text size="sm" c="dimmed">{t('matching')}</Text>
                  <Text size="xl" fw={700} data-testid="segment-matching">{count.data?.matching ?? '…'}</Text>
                </div>
                <div>
                  <Text size="sm" c="dimmed">{t('sendable')}</Text>
                  <Text size="xl" fw={700} data-testid="segment-sendable">{count.data?.sendable ?? '…'}</Text>
                </div>
                {!settled && <Group gap={4}><Loader size="xs" aria-hidden /><Text size="sm">{t('counting')}</Text></Group>}
              </Group>
            )}
            {settled && count.data && count.data.sample.length > 0 && (
              <Group gap={4} mt="xs">
                <Text size="sm" c="dimmed">{t('sample')}:</Text>
                {count.data.sample.map((s) => <Badge key={s.id} variant="light" color="gray" tt="none">{s.email}</Badge>)}
              </Group>
            )}
          </Paper>

          <form onSubmit={(e) => { e.preventDefault(); setNotice(null); save.mutate(); }}>
            <Group align="flex-end">
              <TextInput label={t('name')} required maxLength={120} value={name} onChange={(e) => setName(e.currentTarget.value)} style={{ flex: 1 }} />
              <Button type="submit" disabled={!rules || !name.trim()} loading={save.isPending}>{t('save')}</Button>
            </Group>
          </form>
          {save.error && <Alert color="red" title={t('saveFailed')} role="alert">{(save.error as Error).message}</Alert>}
          {notice && <Alert color="teal" role="status">{notice}</Alert>}
        </Stack>
      </Card>
      <SavedSegments
        onLoad={(saved) => {
          const draft = draftOf(saved);
          setLoadError(!draft);
          if (draft) {
            setCombinator(draft.combinator);
            setConditions(draft.conditions);
          }
        }}
      />
    </Stack>
  );
}
