/**
 * Email templates: the list per language (each language is its own template), an MJML editor
 * with a live preview of the unsaved edit (debounced, POST /api/v1/templates/{id}/preview-draft,
 * shown in a sandboxed iframe: the email's HTML never runs in the console's page), save (PUT),
 * and a test send of the saved version whose provider answer is shown.
 */
import { useEffect, useMemo, useState } from 'react';
import {
  Alert, Button, Card, Grid, Group, Loader, SegmentedControl, Stack, Table, Text, TextInput, Textarea, Title,
} from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { StateBadge } from '../components/StateBadge';
import { api, ok } from '../api/client';
import { usePagedList } from '../api/paged';
import { formatDateTime, useLang, useT, type Lang } from '../i18n';
import { templatesMessages } from './templates-messages';

type Kind = 'marketing' | 'transactional';
interface Draft { name: string; subject: string; mjml: string; text: string }

function Editor({ id, onOpen }: { id: string; onOpen: (id: string, lang: Lang) => void }) {
  const t = useT(templatesMessages);
  const queryClient = useQueryClient();
  const template = useQuery({ queryKey: ['template', id], queryFn: () => ok(api.GET('/api/v1/templates/{id}', { params: { path: { id } } })) });
  const [draft, setDraft] = useState<Draft | null>(null);
  const [saved, setSaved] = useState(false);
  const [testTo, setTestTo] = useState('');

  useEffect(() => {
    if (template.data) setDraft({ name: template.data.name, subject: template.data.subject, mjml: template.data.mjml, text: template.data.text });
  }, [template.data]);

  const tpl = template.data;
  const other: Lang = tpl?.language === 'es' ? 'en' : 'es';
  const siblings = useQuery({
    queryKey: ['templates', 'list', other, tpl?.kind],
    queryFn: () => ok(api.GET('/api/v1/templates', { params: { query: { language: other, kind: tpl!.kind, limit: 100 } } })),
    enabled: !!tpl,
  });
  const sibling = tpl && siblings.data?.data.find((s) => (tpl.key ? s.key === tpl.key : s.name === tpl.name));

  const draftJson = draft ? JSON.stringify({ subject: draft.subject, mjml: draft.mjml, text: draft.text }) : '';
  const [debounced] = useDebouncedValue(draftJson, 400);
  const preview = useQuery({
    queryKey: ['template-preview', id, debounced],
    queryFn: () => ok(api.POST('/api/v1/templates/{id}/preview-draft', { params: { path: { id } }, body: JSON.parse(debounced) as { subject: string; mjml: string; text: string } })),
    enabled: !!debounced,
    placeholderData: keepPreviousData,
    retry: false,
  });
  const previewSettled = !!draftJson && debounced === draftJson && !preview.isFetching && !preview.isPlaceholderData;

  const save = useMutation({
    mutationFn: () => ok(api.PUT('/api/v1/templates/{id}', { params: { path: { id } }, body: { name: draft!.name.trim(), subject: draft!.subject, mjml: draft!.mjml, text: draft!.text } })),
    onMutate: () => setSaved(false),
    onSuccess: (next) => {
      queryClient.setQueryData(['template', id], next);
      void queryClient.invalidateQueries({ queryKey: ['templates'] });
      setSaved(true);
    },
  });
  const testSend = useMutation({
    mutationFn: () => ok(api.POST('/api/v1/templates/{id}/test-send', { params: { path: { id } }, body: { to: testTo.trim() }, headers: { 'Idempotency-Key': crypto.randomUUID() } })),
  });

  const dirty = useMemo(() => !!tpl && !!draft && (draft.name !== tpl.name || draft.subject !== tpl.subject || draft.mjml !== tpl.mjml || draft.text !== tpl.text), [tpl, draft]);

  if (template.isLoading || !draft || !tpl) return <Loader aria-label={t('preview')} />;
  const set = (patch: Partial<Draft>) => { setSaved(false); setDraft((d) => ({ ...d!, ...patch })); };

  return (
    <Card withBorder component="section" aria-labelledby="template-editor-title">
      <Stack>
        <Group justify="space-between">
          <Title order={2} size="h3" id="template-editor-title">{t('editing', { name: tpl.name, lang: tpl.language })}</Title>
          <Group gap="xs">
            {dirty && <StateBadge color="yellow">{t('unsaved')}</StateBadge>}
            {sibling && <Button size="xs" variant="default" onClick={() => onOpen(sibling.id, other)}>{t('otherLanguage', { lang: other.toUpperCase() })}</Button>}
          </Group>
        </Group>
        <Grid>
          <Grid.Col span={{ base: 12, lg: 6 }}>
            <form onSubmit={(e) => { e.preventDefault(); save.mutate(); }}>
              <Stack>
                <TextInput label={t('name')} required maxLength={120} value={draft.name} onChange={(e) => set({ name: e.currentTarget.value })} />
                <TextInput label={t('subject')} required maxLength={255} value={draft.subject} onChange={(e) => set({ subject: e.currentTarget.value })} />
                <Textarea
                  label={t('mjml', { lang: tpl.language.toUpperCase() })} description={t('mjmlHelp')} required autosize minRows={14} maxRows={30}
                  styles={{ input: { fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace', fontSize: 13 } }}
                  spellCheck={false} value={draft.mjml} onChange={(e) => set({ mjml: e.currentTarget.value })}
                />
                <Textarea
                  label={t('text')} required autosize minRows={4} maxRows={12}
                  styles={{ input: { fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace', fontSize: 13 } }}
                  value={draft.text} onChange={(e) => set({ text: e.currentTarget.value })}
                />
                {save.error && <Alert color="red" title={t('saveFailed')} role="alert">{(save.error as Error).message}</Alert>}
                {saved && !dirty && <Alert color="teal" role="status">{t('saved')}</Alert>}
                <Group><Button type="submit" disabled={!dirty} loading={save.isPending}>{t('save')}</Button></Group>
              </Stack>
            </form>
          </Grid.Col>
          <Grid.Col span={{ base: 12, lg: 6 }}>
            <Stack gap="xs" aria-live="polite">
              <Group justify="space-between">
                <Title order={3} size="h4">{t('preview')}</Title>
                {!previewSettled && !preview.error && <Group gap={4}><Loader size="xs" aria-hidden /><Text size="sm">{t('previewing')}</Text></Group>}
              </Group>
              {preview.error && <Alert color="red" title={t('previewFailed')} role="alert" data-testid="template-preview-error">{(preview.error as Error).message}</Alert>}
              {preview.data && (
                <>
                  <Text size="sm" data-testid="template-preview-subject">{t('previewSubject', { subject: preview.data.subject })}</Text>
                  {preview.data.missingVariables.length > 0 && <Text size="sm" c="dimmed">{t('missing', { names: preview.data.missingVariables.join(', ') })}</Text>}
                  <iframe
                    title={t('previewTitle')} sandbox="" srcDoc={preview.data.html} data-testid="template-preview"
                    data-settled={previewSettled && !preview.error ? 'true' : 'false'}
                    style={{ width: '100%', height: 520, border: '1px solid var(--mantine-color-gray-4)', borderRadius: 4, background: 'white' }}
                  />
                </>
              )}
            </Stack>
          </Grid.Col>
        </Grid>
        <form onSubmit={(e) => { e.preventDefault(); testSend.mutate(); }} aria-labelledby="test-send-title">
          <Stack gap="xs">
            <Title order={3} size="h4" id="test-send-title">{t('testSend')}</Title>
            <Group align="flex-end">
              <TextInput type="email" label={t('testTo')} required value={testTo} onChange={(e) => setTestTo(e.currentTarget.value)} w={320} />
              <Button type="submit" variant="default" loading={testSend.isPending} disabled={!testTo.trim()}>{t('testButton')}</Button>
            </Group>
            {dirty && <Text size="sm" c="dimmed">{t('testSavedNote')}</Text>}
            {testSend.error && <Alert color="red" title={t('testFailed')} role="alert">{(testSend.error as Error).message}</Alert>}
            {testSend.data && (
              <Alert color={testSend.data.status === 'accepted' ? 'teal' : 'red'} role="status" data-testid="test-send-result" data-status={testSend.data.status}>
                <Text size="sm">{t('testResult', { to: testSend.data.to, provider: testSend.data.provider, status: testSend.data.status })}</Text>
                <Text size="xs">{t('testId', { id: testSend.data.sendId })}</Text>
                {testSend.data.error && <Text size="xs">{testSend.data.error}</Text>}
              </Alert>
            )}
          </Stack>
        </form>
      </Stack>
    </Card>
  );
}

export default function Templates() {
  const t = useT(templatesMessages);
  const { lang: uiLang } = useLang();
  const [lang, setLang] = useState<Lang>(uiLang);
  const [kind, setKind] = useState<Kind>('marketing');
  const [selected, setSelected] = useState<string | null>(null);

  const { list, rows } = usePagedList(['templates', 'list', lang, kind, 'pages'], (cursor) => ok(api.GET('/api/v1/templates', { params: { query: { language: lang, kind, limit: 20, cursor } } })));

  return (
    <Stack>
      <Title order={1}>{t('title')}</Title>
      <Group>
        <Stack gap={4}>
          <Text size="sm" fw={500} id="tpl-lang-label">{t('language')}</Text>
          <SegmentedControl aria-labelledby="tpl-lang-label" value={lang} onChange={(v) => setLang(v as Lang)} data={[{ value: 'es', label: 'ES' }, { value: 'en', label: 'EN' }]} />
        </Stack>
        <Stack gap={4}>
          <Text size="sm" fw={500} id="tpl-kind-label">{t('kind')}</Text>
          <SegmentedControl
            aria-labelledby="tpl-kind-label" value={kind} onChange={(v) => setKind(v as Kind)}
            data={[{ value: 'marketing', label: t('kindMarketing') }, { value: 'transactional', label: t('kindTransactional') }]}
          />
        </Stack>
      </Group>
      {list.error && <Alert color="red" title={t('loadFailed')} role="alert">{(list.error as Error).message}</Alert>}
      {list.isLoading ? <Loader aria-label={t('title')} /> : rows.length === 0 ? <Text c="dimmed">{t('none')}</Text> : (
        <Table striped highlightOnHover aria-label={t('listCaption')}>
          <Table.Thead>
            <Table.Tr><Table.Th>{t('colName')}</Table.Th><Table.Th>{t('colSubject')}</Table.Th><Table.Th>{t('colUpdated')}</Table.Th><Table.Th /></Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {rows.map((row) => (
              <Table.Tr key={row.id} aria-selected={row.id === selected}>
                <Table.Td>{row.name}{row.key ? <Text span size="xs" c="dimmed"> ({row.key})</Text> : null}</Table.Td>
                <Table.Td>{row.subject}</Table.Td>
                <Table.Td>{formatDateTime(row.updatedAt, uiLang)}</Table.Td>
                <Table.Td>
                  <Button size="xs" variant={row.id === selected ? 'filled' : 'default'} onClick={() => setSelected(row.id)} aria-label={`${t('edit')}: ${row.name}`}>{t('edit')}</Button>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
      {list.hasNextPage && <Group><Button variant="default" onClick={() => void list.fetchNextPage()} loading={list.isFetchingNextPage}>{t('more')}</Button></Group>}
      {selected ? <Editor key={selected} id={selected} onOpen={(id, l) => { setLang(l); setSelected(id); }} /> : <Text c="dimmed">{t('chooseOne')}</Text>}
    </Stack>
  );
}
