/**
 * Automations: each with its trigger, its steps (wait, send, check), its goal and where its
 * enrolled contacts are (per step and status, GET /api/v1/automations/{id} when opened); pause,
 * resume, and enrolling one contact by email.
 */
import { useState } from 'react';
import { Accordion, Alert, Button, Group, List, Loader, SimpleGrid, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { StateBadge } from '../components/StateBadge';
import { api, ok } from '../api/client';
import { usePagedList } from '../api/paged';
import { useT } from '../i18n';
import { automationsMessages } from './automations-messages';

type Messages = typeof automationsMessages.en;
type Step = { wait: { hours: number } } | { send: { templateId: string } } | { check: { rules: unknown } };

function Detail({ id }: { id: string }) {
  const t = useT(automationsMessages);
  const queryClient = useQueryClient();
  const [email, setEmail] = useState('');
  const [notice, setNotice] = useState<string | null>(null);
  const detail = useQuery({ queryKey: ['automation', id], queryFn: () => ok(api.GET('/api/v1/automations/{id}', { params: { path: { id } } })) });
  const templates = useQuery({ queryKey: ['templates', 'marketing'], queryFn: () => ok(api.GET('/api/v1/templates', { params: { query: { kind: 'marketing', limit: 100 } } })), refetchOnMount: 'always' });

  const refresh = () => {
    void queryClient.invalidateQueries({ queryKey: ['automation', id] });
    void queryClient.invalidateQueries({ queryKey: ['automations'] });
  };
  const steer = useMutation({
    mutationFn: (action: 'pause' | 'resume') => ok(action === 'pause'
      ? api.POST('/api/v1/automations/{id}/pause', { params: { path: { id } } })
      : api.POST('/api/v1/automations/{id}/resume', { params: { path: { id } } })),
    onSuccess: (next) => { queryClient.setQueryData(['automation', id], next); refresh(); },
  });
  const enroll = useMutation({
    mutationFn: async (address: string) => {
      const found = await ok(api.GET('/api/v1/contacts', { params: { query: { email: address, limit: 1 } } }));
      const contact = found.data[0];
      if (!contact) return { message: t('noContact', { email: address }) };
      const r = await ok(api.POST('/api/v1/automations/{id}/enrollments', {
        params: { path: { id } }, body: { contactIds: [contact.id], occasion: '' }, headers: { 'Idempotency-Key': crypto.randomUUID() },
      }));
      return { message: r.enrolled ? t('enrolled', { email: address }) : t('alreadyEnrolled', { email: address }) };
    },
    onMutate: () => setNotice(null),
    onSuccess: ({ message }) => { setNotice(message); refresh(); },
  });

  const a = detail.data;
  if (detail.error) return <Alert color="red" title={t('loadFailed')} role="alert">{(detail.error as Error).message}</Alert>;
  if (!a) return <Loader size="sm" aria-label={t('steps')} />;
  const templateName = (tid: string) => templates.data?.data.find((x) => x.id === tid)?.name ?? tid;
  const describe = (s: Step) => ('wait' in s ? t('stepWait', { hours: s.wait.hours })
    : 'send' in s ? t('stepSend', { template: templateName(s.send.templateId) }) : t('stepCheck', { rules: JSON.stringify(s.check.rules) }));

  return (
    <Stack>
      <SimpleGrid cols={{ base: 1, md: 2 }}>
        <Stack gap="xs">
          <Title order={3} size="h5">{t('steps')}</Title>
          <List type="ordered" size="sm" data-testid={`automation-steps-${a.id}`}>
            {(a.steps as Step[]).map((s, i) => <List.Item key={i}>{describe(s)}</List.Item>)}
          </List>
          <Text size="sm"><strong>{t('goal')}:</strong> {a.goal ? <Text span ff="monospace" size="xs">{JSON.stringify(a.goal)}</Text> : t('noGoal')}</Text>
        </Stack>
        <Stack gap="xs">
          <Title order={3} size="h5">{t('atStep')}</Title>
          {a.enrollments.length === 0 ? <Text size="sm" c="dimmed">{t('nobody')}</Text> : (
            <Table aria-label={t('atStepCaption')}>
              <Table.Thead><Table.Tr><Table.Th>{t('colStep')}</Table.Th><Table.Th>{t('colStatus')}</Table.Th><Table.Th>{t('colContacts')}</Table.Th></Table.Tr></Table.Thead>
              <Table.Tbody>
                {a.enrollments.map((e) => (
                  <Table.Tr key={`${e.step}-${e.status}`}>
                    <Table.Td>{e.step + 1}</Table.Td><Table.Td>{t(`e_${e.status}` as keyof Messages)}</Table.Td><Table.Td>{e.contacts}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          )}
        </Stack>
      </SimpleGrid>
      <Group align="flex-end">
        {a.status === 'active' && <Button variant="default" onClick={() => steer.mutate('pause')} loading={steer.isPending}>{t('pause')}</Button>}
        {a.status === 'paused' && <Button variant="default" onClick={() => steer.mutate('resume')} loading={steer.isPending}>{t('resume')}</Button>}
        {a.status !== 'archived' && (
          <form onSubmit={(e) => { e.preventDefault(); if (email.trim()) enroll.mutate(email.trim()); }}>
            <Group align="flex-end">
              <TextInput type="email" label={t('enrollEmail')} required value={email} onChange={(e) => setEmail(e.currentTarget.value)} w={280} />
              <Button type="submit" variant="default" loading={enroll.isPending}>{t('enrollButton')}</Button>
            </Group>
          </form>
        )}
      </Group>
      {steer.error && <Alert color="red" title={t('refused')} role="alert">{(steer.error as Error).message}</Alert>}
      {enroll.error && <Alert color="red" title={t('enrollFailed')} role="alert">{(enroll.error as Error).message}</Alert>}
      {notice && <Alert color="teal" role="status">{notice}</Alert>}
    </Stack>
  );
}

export default function Automations() {
  const t = useT(automationsMessages);
  const [open, setOpen] = useState<string | null>(null);
  const { list, rows } = usePagedList(['automations'], (cursor) => ok(api.GET('/api/v1/automations', { params: { query: { limit: 20, cursor } } })));

  return (
    <Stack>
      <Title order={1}>{t('title')}</Title>
      {list.error && <Alert color="red" title={t('loadFailed')} role="alert">{(list.error as Error).message}</Alert>}
      {list.isLoading ? <Loader aria-label={t('title')} /> : rows.length === 0 ? <Text c="dimmed">{t('none')}</Text> : (
        <Accordion variant="separated" value={open} onChange={setOpen}>
          {rows.map((a) => (
            <Accordion.Item key={a.id} value={a.id}>
              <Accordion.Control>
                <Group justify="space-between" wrap="nowrap" pr="md">
                  <Stack gap={0}>
                    <Text fw={600}>{a.name}</Text>
                    <Text size="xs" c="dimmed">{t('trigger')}: {t(`t_${a.trigger}` as keyof Messages) ?? a.trigger} · {t('steps')}: {a.steps.length}</Text>
                  </Stack>
                  <Group gap="xs" wrap="nowrap">
                    <StateBadge color={a.status === 'active' ? 'green' : a.status === 'paused' ? 'yellow' : 'gray'}>{t(`s_${a.status}`)}</StateBadge>
                    <Text size="xs">{t('running')}: {a.enrollments.running} · {t('completed')}: {a.enrollments.completed} · {t('exited')}: {a.enrollments.exited}</Text>
                  </Group>
                </Group>
              </Accordion.Control>
              <Accordion.Panel>{open === a.id && <Detail id={a.id} />}</Accordion.Panel>
            </Accordion.Item>
          ))}
        </Accordion>
      )}
      {list.hasNextPage && <Group><Button variant="default" onClick={() => void list.fetchNextPage()} loading={list.isFetchingNextPage}>{t('more')}</Button></Group>}
    </Stack>
  );
}
