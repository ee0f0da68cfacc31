/**
 * Contacts: the list with consent per channel and suppression (filtered as the API filters:
 * exact email, tag, source, language), and the CSV import. The file goes as the request body
 * (text/csv, streamed by the API) with an import id chosen here, so its progress
 * (['contact-import', id], refreshed by contact_import events and a slow poll) shows while the
 * upload runs; the error report lists the rows refused and why.
 */
import { useState } from 'react';
import {
  Alert, Button, Card, FileInput, Group, Loader, NativeSelect, Progress, SimpleGrid, Stack, Table, Text, TextInput, Title,
} from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { StateBadge } from '../components/StateBadge';
import { api, ApiError, ok, type paths } from '../api/client';
import { usePagedList } from '../api/paged';
import { authedFetch } from '../api/session';
import { formatDate, useLang, useT } from '../i18n';
import { contactsMessages } from './contacts-messages';

type ImportSummary = paths['/api/v1/contacts/imports/{id}']['get']['responses'][200]['content']['application/json'];
type Source = 'customer' | 'lead' | 'partner' | 'import' | 'api';
type Consent = { status: 'granted' | 'withdrawn' } | null;

function ConsentBadge({ consent }: { consent: Consent }) {
  const t = useT(contactsMessages);
  if (!consent) return <Text size="sm" c="dimmed">{t('notAsked')}</Text>;
  return <StateBadge color={consent.status === 'granted' ? 'green' : 'red'}>{t(consent.status)}</StateBadge>;
}

/** Data rows in the file (lines after the header, blank ones aside): the progress bar's whole. */
async function dataRows(file: File): Promise<number | null> {
  if (file.size > 60 * 1024 * 1024) return null;
  const text = await file.text();
  let n = 0;
  for (const line of text.split(/\r?\n/)) if (line.trim()) n++;
  return Math.max(0, n - 1);
}

function ImportCard() {
  const t = useT(contactsMessages);
  const queryClient = useQueryClient();
  const [file, setFile] = useState<File | null>(null);
  const [importId, setImportId] = useState<string | null>(null);
  const [total, setTotal] = useState<number | null>(null);

  const upload = useMutation({
    mutationFn: async (f: File) => {
      const id = crypto.randomUUID();
      setTotal(await dataRows(f));
      setImportId(id);
      const res = await authedFetch(new Request(`/api/v1/contacts/import?importId=${id}`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: f }));
      const body = await res.json().catch(() => ({}));
      if (!res.ok) throw new ApiError(res.status, body.code, body.detail ?? body.title ?? res.statusText, body);
      return body as ImportSummary;
    },
    onSuccess: (summary) => {
      queryClient.setQueryData(['contact-import', summary.id], summary);
      void queryClient.invalidateQueries({ queryKey: ['contacts'] });
    },
  });

  const progress = useQuery({
    queryKey: ['contact-import', importId],
    queryFn: async () => {
      const answer = await api.GET('/api/v1/contacts/imports/{id}', { params: { path: { id: importId! } } });
      // Until the first line is read the import has no row yet.
      if (answer.response.status === 404) return null;
      return ok(Promise.resolve(answer));
    },
    enabled: !!importId,
    // Live events refresh it; the poll covers a stream that is down while the upload runs.
    refetchInterval: (q) => (!q.state.data || q.state.data.status === 'running' ? 1000 : false),
  });

  const p = progress.data;
  const done = p && p.status !== 'running';
  const percent = !p ? 0 : done ? 100 : total ? Math.min(99, Math.round((100 * p.rowsRead) / total)) : 0;
  const label = p ? (total !== null ? t('progressLabel', { read: p.rowsRead, total }) : t('progressLabelUnknown', { read: p.rowsRead })) : t('importing');

  return (
    <Card withBorder component="section" aria-labelledby="contact-import-title">
      <Stack>
        <Title order={2} size="h3" id="contact-import-title">{t('import')}</Title>
        <Text size="sm" c="dimmed">{t('importHelp')}</Text>
        <form onSubmit={(e) => { e.preventDefault(); if (file) upload.mutate(file); }}>
          <Group align="flex-end">
            <FileInput label={t('file')} accept=".csv,text/csv" value={file} onChange={setFile} w={360} />
            <Button type="submit" disabled={!file} loading={upload.isPending}>{t('importButton')}</Button>
          </Group>
        </form>
        {upload.error && <Alert color="red" title={t('importFailed')} role="alert" data-testid="import-refusal">{(upload.error as Error).message}</Alert>}
        {importId && (upload.isPending || p) && (
          <Stack gap="xs" aria-live="polite">
            <Progress.Root size="lg" aria-hidden>
              <Progress.Section value={percent} animated={!done} color={p?.status === 'failed' ? 'red' : 'teal'} />
            </Progress.Root>
            <Group justify="space-between">
              <Text
                size="sm" role="progressbar" aria-label={t('progress')} aria-valuemin={0} aria-valuemax={100} aria-valuenow={percent} aria-valuetext={label}
                data-testid="import-progress" data-status={p?.status ?? 'uploading'} data-percent={percent}
              >{label}</Text>
              {p && <Text size="sm">{t('status', { status: t(`st_${p.status}`) })}</Text>}
            </Group>
            {p && (
              <SimpleGrid cols={3}>
                <div><Text size="xs" c="dimmed">{t('created')}</Text><Text fw={700} data-testid="import-created">{p.created}</Text></div>
                <div><Text size="xs" c="dimmed">{t('updated')}</Text><Text fw={700} data-testid="import-updated">{p.updated}</Text></div>
                <div><Text size="xs" c="dimmed">{t('failed')}</Text><Text fw={700} data-testid="import-failed">{p.failed}</Text></div>
              </SimpleGrid>
            )}
            {done && (
              <Stack gap="xs">
                <Title order={3} size="h4">{t('report')}</Title>
                {p.errors.length === 0 ? <Text size="sm" c="dimmed">{t('noErrors')}</Text> : (
                  <Table aria-label={t('reportCaption')} data-testid="import-errors">
                    <Table.Thead><Table.Tr><Table.Th>{t('colRow')}</Table.Th><Table.Th>{t('colEmail')}</Table.Th><Table.Th>{t('colReason')}</Table.Th></Table.Tr></Table.Thead>
                    <Table.Tbody>
                      {p.errors.slice(0, 200).map((e) => (
                        <Table.Tr key={e.row}><Table.Td>{e.row}</Table.Td><Table.Td>{e.email ?? '—'}</Table.Td><Table.Td>{e.errors.join('; ')}</Table.Td></Table.Tr>
                      ))}
                    </Table.Tbody>
                  </Table>
                )}
                {(p.errorsTruncated || p.errors.length > 200) && <Text size="sm" c="dimmed">{t('truncated')}</Text>}
              </Stack>
            )}
          </Stack>
        )}
      </Stack>
    </Card>
  );
}

export default function Contacts() {
  const t = useT(contactsMessages);
  const { lang } = useLang();
  const [email, setEmail] = useState('');
  const [tag, setTag] = useState('');
  const [source, setSource] = useState<Source | ''>('');
  const [language, setLanguage] = useState<'es' | 'en' | ''>('');
  const [filters, setFilters] = useState<{ email?: string; tag?: string; source?: Source; language?: 'es' | 'en' }>({});

  const { list, rows } = usePagedList(['contacts', filters], (cursor) => ok(api.GET('/api/v1/contacts', { params: { query: { ...filters, limit: 25, cursor } } })));

  const apply = () => setFilters({
    ...(email.trim() ? { email: email.trim() } : {}), ...(tag.trim() ? { tag: tag.trim() } : {}), ...(source ? { source } : {}), ...(language ? { language } : {}),
  });

  return (
    <Stack>
      <Title order={1}>{t('title')}</Title>
      <ImportCard />
      <Card withBorder component="section" aria-labelledby="contacts-search-title">
        <Stack>
          <Title order={2} size="h3" id="contacts-search-title">{t('search')}</Title>
          <form onSubmit={(e) => { e.preventDefault(); apply(); }}>
            <Group align="flex-end">
              <TextInput label={t('email')} type="email" value={email} onChange={(e) => setEmail(e.currentTarget.value)} w={260} />
              <TextInput label={t('tag')} value={tag} onChange={(e) => setTag(e.currentTarget.value)} w={160} />
              <NativeSelect
                label={t('source')} value={source} onChange={(e) => setSource(e.currentTarget.value as Source | '')}
                data={[{ value: '', label: t('anySource') }, ...['customer', 'lead', 'partner', 'import', 'api'].map((s) => ({ value: s, label: s }))]}
              />
              <NativeSelect
                label={t('language')} value={language} onChange={(e) => setLanguage(e.currentTarget.value as 'es' | 'en' | '')}
                data={[{ value: '', label: t('anyLanguage') }, { value: 'es', label: 'es' }, { value: 'en', label: 'en' }]}
              />
              <Button type="submit">{t('search')}</Button>
              <Button variant="default" onClick={() => { setEmail(''); setTag(''); setSource(''); setLanguage(''); setFilters({}); }}>{t('clear')}</Button>
            </Group>
          </form>
          {list.error && <Alert color="red" title={t('loadFailed')} role="alert">{(list.error as Error).message}</Alert>}
          {list.isLoading ? <Loader aria-label={t('title')} /> : rows.length === 0 ? <Text c="dimmed">{t('none')}</Text> : (
            <Table.ScrollContainer minWidth={900}>
              <Table striped aria-label={t('listCaption')} data-testid="contacts-table">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>{t('colEmail')}</Table.Th><Table.Th>{t('colName')}</Table.Th><Table.Th>{t('colLanguage')}</Table.Th><Table.Th>{t('colTags')}</Table.Th>
                    <Table.Th>{t('colEmailConsent')}</Table.Th><Table.Th>{t('colWhatsappConsent')}</Table.Th><Table.Th>{t('colSuppression')}</Table.Th><Table.Th>{t('colCreated')}</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {rows.map((c) => (
                    <Table.Tr key={c.id}>
                      <Table.Td>{c.email}</Table.Td>
                      <Table.Td>{[c.firstName, c.lastName].filter(Boolean).join(' ') || '—'}</Table.Td>
                      <Table.Td>{c.language}</Table.Td>
                      <Table.Td>{c.tags.length ? c.tags.join(', ') : '—'}</Table.Td>
                      <Table.Td><ConsentBadge consent={c.consent.email} /></Table.Td>
                      <Table.Td><ConsentBadge consent={c.consent.whatsapp} /></Table.Td>
                      <Table.Td>{c.suppression ? c.suppression.reason : '—'}</Table.Td>
                      <Table.Td>{formatDate(c.createdAt, lang)}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
          )}
          {list.hasNextPage && <Group><Button variant="default" onClick={() => void list.fetchNextPage()} loading={list.isFetchingNextPage}>{t('more')}</Button></Group>}
        </Stack>
      </Card>
    </Stack>
  );
}
