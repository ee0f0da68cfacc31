/**
 * The conversations inbox (WhatsApp and web chat) beside the selected thread (?id=): who waits
 * for a person (longest waiting first), who is with me, who is with the bot; the thread with each
 * message's direction and delivery; take over, reply, hand back; and WhatsApp's 24-hour service
 * window, because outside it a reply goes as the approved template, not as typed.
 *
 * Live: a conversation event invalidates ['conversations'] and ['conversation', id], so a new
 * customer message shows without reloading.
 */
import { useEffect, useRef, useState } from 'react';
import { Alert, Anchor, Badge, Box, Button, Grid, Group, NavLink, Paper, SegmentedControl, Stack, Text, Textarea, TextInput, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useSearch } from 'wouter';
import { api, ok, type paths } from '../api/client';
import { usePagedList } from '../api/paged';
import { useAuth } from '../auth';
import { formatDateTime, useLang, useT } from '../i18n';
import { conversationsMessages } from './conversations-messages';

type ConversationItem = paths['/api/v1/conversations']['get']['responses'][200]['content']['application/json']['data'][number];
type ConversationDetail = paths['/api/v1/conversations/{id}']['get']['responses'][200]['content']['application/json'];
type Message = ConversationDetail['messages'][number];
type Status = ConversationItem['status'];
type Msg = keyof typeof conversationsMessages.en;

const FILTERS = ['waiting', 'mine', 'bot', 'all'] as const;
type Filter = (typeof FILTERS)[number];
const PAGE = 50;

/** What each filter asks the API: the human queue comes oldest first, the rest newest first. */
function filterQuery(filter: Filter): { queue?: 'human'; status?: Status } {
  switch (filter) {
    case 'waiting': return { queue: 'human', status: 'waiting_human' };
    case 'mine': return { queue: 'human', status: 'with_human' };
    case 'bot': return { status: 'bot' };
    default: return {};
  }
}

const STATUS_COLOR: Record<Status, string> = { bot: 'gray', waiting_human: 'grape', with_human: 'blue', closed: 'dark' };

function StatusBadge({ status }: { status: Status }) {
  const t = useT(conversationsMessages);
  return <Badge color={STATUS_COLOR[status]} data-testid="conversation-status" data-status={status}>{t(`status_${status}` as Msg)}</Badge>;
}

const who = (c: Pick<ConversationItem, 'customerName' | 'customerHandle'>) => c.customerName ? `${c.customerName} (${c.customerHandle})` : c.customerHandle;

function Inbox({ selected }: { selected: string | null }) {
  const t = useT(conversationsMessages);
  const { lang } = useLang();
  const { user } = useAuth();
  const [filter, setFilter] = useState<Filter>('waiting');
  const { list, rows: listed } = usePagedList(['conversations', filter], (cursor) => ok(api.GET('/api/v1/conversations', { params: { query: { ...filterQuery(filter), limit: PAGE, cursor } } })));
  const items = listed.filter((c) => filter !== 'mine' || c.assignedUserId === user?.id);
  const label: Record<Filter, string> = { waiting: t('filterWaiting'), mine: t('filterMine'), bot: t('filterBot'), all: t('filterAll') };

  return (
    <Stack component="section" aria-labelledby="inbox-title" gap="sm">
      <Title order={2} id="inbox-title">{t('inbox')}</Title>
      <SegmentedControl
        aria-label={t('filter')}
        value={filter}
        onChange={(v) => setFilter(v as Filter)}
        data={FILTERS.map((f) => ({ value: f, label: label[f] }))}
        orientation="vertical"
        fullWidth
      />
      <Text size="xs" c="dimmed">{filter === 'waiting' || filter === 'mine' ? t('waitingOrder') : t('newestOrder')}</Text>
      {list.error && <Alert color="red" title={t('loadFailed')} role="alert">{list.error.message}</Alert>}
      {list.isPending && <Text>{t('loading')}</Text>}
      <Box component="ul" aria-label={t('inboxLabel')} p={0} m={0} style={{ listStyle: 'none' }} data-testid="inbox" data-count={items.length}>
        {items.map((c) => (
          <li key={c.id}>
            <NavLink
              component={Link}
              href={`/conversations?id=${c.id}`}
              active={c.id === selected}
              aria-current={c.id === selected ? 'true' : undefined}
              data-testid="conversation-item"
              data-id={c.id}
              data-status={c.status}
              label={<Group justify="space-between" wrap="nowrap" gap="xs"><Text size="sm" fw={600} truncate>{who(c)}</Text><StatusBadge status={c.status} /></Group>}
              description={
                <Stack gap={0}>
                  <Text size="xs" lineClamp={1}>{c.lastText ?? t('noText')}</Text>
                  <Text size="xs" c="dimmed">
                    {t(`channel_${c.channel}` as Msg) ?? c.channel} · {c.status === 'waiting_human' && c.waitingSince ? t('waitingFor', { at: formatDateTime(c.waitingSince, lang) }) : t('lastAt', { at: formatDateTime(c.lastMessageAt, lang) })}
                  </Text>
                </Stack>
              }
            />
          </li>
        ))}
      </Box>
      {list.isSuccess && !items.length && <Text c="dimmed">{t('empty')}</Text>}
      {list.hasNextPage && <Button variant="default" size="xs" loading={list.isFetchingNextPage} onClick={() => void list.fetchNextPage()}>{t('more')}</Button>}
    </Stack>
  );
}

function ServiceWindow({ c }: { c: ConversationDetail }) {
  const t = useT(conversationsMessages);
  const { lang } = useLang();
  const w = c.window;
  if (!w) return <Text size="sm" c="dimmed" data-testid="service-window" data-open="none">{t('windowNone')}</Text>;
  const at = formatDateTime(w.expiresAt, lang);
  return (
    <Alert color={w.open ? 'teal' : 'grape'} data-testid="service-window" data-open={w.open ? 'true' : 'false'} p="xs">
      <Text size="sm">{w.open ? t('windowOpen', { at }) : w.expiresAt ? t('windowClosed', { at }) : t('windowNever')}</Text>
    </Alert>
  );
}

const DELIVERY_COLOR: Record<string, string> = { pending: 'gray', claimed: 'gray', sent: 'blue', delivered: 'teal', read: 'indigo', failed: 'red', unknown: 'gray' };

function MessageBubble({ m }: { m: Message }) {
  const t = useT(conversationsMessages);
  const { lang } = useLang();
  const out = m.direction === 'out';
  return (
    <Box component="li" style={{ display: 'flex', justifyContent: out ? 'flex-end' : 'flex-start' }} data-testid="message" data-direction={m.direction} data-author={m.author}>
      <Paper withBorder p="xs" maw="80%" bg={out ? 'var(--mantine-color-teal-0)' : 'var(--mantine-color-gray-0)'}>
        <Group gap="xs" justify="space-between" wrap="nowrap">
          <Text size="xs" fw={700}>{t(`author_${m.author}` as Msg)}</Text>
          <Text size="xs" c="dimmed">{formatDateTime(m.createdAt, lang)}</Text>
        </Group>
        <Text size="sm" style={{ whiteSpace: 'pre-wrap' }}>{m.text}</Text>
        {!out && m.intent && <Text size="xs" c="dimmed">{t('understood', { intent: m.intent })}</Text>}
        {out && m.delivery && (
          <Group gap={4} justify="flex-end" mt={4}>
            {m.delivery.viaTemplate && <Text size="xs" c="dimmed">{t('viaTemplate', { name: m.delivery.viaTemplate })}</Text>}
            <Badge size="xs" color={DELIVERY_COLOR[m.delivery.status] ?? 'gray'} data-testid="delivery-status" data-status={m.delivery.status}>
              {t(`delivery_${m.delivery.status}` as Msg) ?? m.delivery.status}
            </Badge>
          </Group>
        )}
        {out && m.delivery?.error && <Text size="xs" c="red.9">{m.delivery.error}</Text>}
      </Paper>
    </Box>
  );
}

function Composer({ c }: { c: ConversationDetail }) {
  const t = useT(conversationsMessages);
  const queryClient = useQueryClient();
  const [text, setText] = useState('');
  const [key, setKey] = useState(() => crypto.randomUUID());
  const reply = useMutation({
    mutationFn: (body: string) => ok(api.POST('/api/v1/conversations/{id}/reply', {
      params: { path: { id: c.id }, header: { 'Idempotency-Key': key } },
      body: { text: body },
    })),
    onSuccess: () => {
      setText('');
      setKey(crypto.randomUUID());
      void queryClient.invalidateQueries({ queryKey: ['conversation', c.id] });
      void queryClient.invalidateQueries({ queryKey: ['conversations'] });
    },
  });
  const asTemplate = c.window ? !c.window.open : false;
  return (
    <form onSubmit={(e) => { e.preventDefault(); if (text.trim()) reply.mutate(text.trim()); }}>
      <Stack gap="xs">
        <Textarea
          label={t('reply')}
          placeholder={t('replyPlaceholder')}
          description={c.window ? (asTemplate ? t('composerTemplate') : t('composerOpen')) : undefined}
          value={text}
          onChange={(e) => { setText(e.currentTarget.value); if (reply.error) reply.reset(); }}
          autosize
          minRows={2}
          maxRows={8}
          maxLength={4096}
          data-testid="reply-input"
        />
        {reply.error && <Alert color="red" title={t('refused')} role="alert">{reply.error.message}</Alert>}
        <Group justify="flex-end">
          <Button type="submit" loading={reply.isPending} disabled={!text.trim()}>{t('send')}</Button>
        </Group>
      </Stack>
    </form>
  );
}

function Thread({ id }: { id: string }) {
  const t = useT(conversationsMessages);
  const { lang } = useLang();
  const { user } = useAuth();
  const queryClient = useQueryClient();
  const [note, setNote] = useState('');
  const conversation = useQuery({
    queryKey: ['conversation', id],
    queryFn: () => ok(api.GET('/api/v1/conversations/{id}', { params: { path: { id } } })),
  });
  const after = () => Promise.all([
    queryClient.invalidateQueries({ queryKey: ['conversation', id] }),
    queryClient.invalidateQueries({ queryKey: ['conversations'] }),
  ]);
  const takeOver = useMutation({
    mutationFn: (force: boolean) => ok(api.POST('/api/v1/conversations/{id}/takeover', { params: { path: { id } }, body: force ? { force: true } : {} })),
    onSuccess: after,
  });
  const handBack = useMutation({
    mutationFn: () => ok(api.POST('/api/v1/conversations/{id}/handback', { params: { path: { id } }, body: note.trim() ? { note: note.trim() } : {} })),
    onSuccess: () => { setNote(''); return after(); },
  });

  const log = useRef<HTMLDivElement>(null);
  const count = conversation.data?.messages.length ?? 0;
  useEffect(() => {
    // The newest message is at the bottom: keep it in view as messages arrive.
    log.current?.scrollTo({ top: log.current.scrollHeight });
  }, [count]);

  const expiresAt = conversation.data?.window?.open ? conversation.data.window.expiresAt : null;
  useEffect(() => {
    // The window closes while the thread is open: ask again then, so the composer says "template".
    if (!expiresAt) return;
    const timer = setTimeout(() => void queryClient.invalidateQueries({ queryKey: ['conversation', id] }), Math.max(0, new Date(expiresAt).getTime() - Date.now()) + 1_000);
    return () => clearTimeout(timer);
  }, [expiresAt, id, queryClient]);

  if (conversation.error) return <Alert color="red" title={t('loadFailed')} role="alert">{conversation.error.message}</Alert>;
  if (!conversation.data) return <Text>{t('loading')}</Text>;
  const c = conversation.data;
  const mine = !!user && c.assignedUserId === user.id;
  const takenByOther = c.status === 'with_human' && !!c.assignedUserId && !mine;
  const isAdmin = user?.role === 'admin';
  const mayTake = c.status === 'bot' || c.status === 'waiting_human' || (takenByOther && isAdmin);
  const mayHandBack = c.status === 'with_human' || c.status === 'waiting_human';
  const refusal = takeOver.error ?? handBack.error;

  return (
    <Stack component="section" aria-labelledby="thread-title" gap="sm" data-testid="thread" data-id={c.id}>
      <Group justify="space-between" align="flex-start">
        <Stack gap={2}>
          <Title order={2} id="thread-title">{who(c)}</Title>
          <Text size="sm" c="dimmed">{t(`channel_${c.channel}` as Msg) ?? c.channel}{c.language ? ` · ${c.language}` : ''}</Text>
        </Stack>
        <StatusBadge status={c.status} />
      </Group>
      <ServiceWindow c={c} />
      {mine && <Text size="sm" data-testid="assignment">{t('withYou')}</Text>}
      {takenByOther && <Text size="sm" data-testid="assignment">{t('withOther')}</Text>}
      {c.status === 'closed' && <Text size="sm" c="dimmed">{t('closedNote')}</Text>}

      {/* Focusable, so a keyboard can scroll a long thread. */}
      <div ref={log} role="log" aria-label={t('threadLabel')} tabIndex={0} style={{ maxHeight: '55vh', overflow: 'auto' }}>
        <Stack component="ol" gap="xs" p={0} m={0} style={{ listStyle: 'none' }} data-testid="messages" data-count={c.messages.length}>
          {c.messages.map((m) => <MessageBubble key={m.id} m={m} />)}
        </Stack>
      </div>

      {refusal && <Alert color="red" title={t('refused')} role="alert">{refusal.message}</Alert>}
      <Group>
        {mayTake && (
          <Button onClick={() => takeOver.mutate(takenByOther)} loading={takeOver.isPending} color={takenByOther ? 'red' : undefined}>
            {takenByOther ? t('forceTakeOver') : t('takeOver')}
          </Button>
        )}
      </Group>
      {c.status !== 'closed' && !takenByOther && <Composer key={c.id} c={c} />}
      {mayHandBack && (
        <form onSubmit={(e) => { e.preventDefault(); handBack.mutate(); }}>
          <Group align="flex-end">
            <TextInput label={t('handBackNote')} value={note} onChange={(e) => setNote(e.currentTarget.value)} maxLength={500} style={{ flex: 1 }} />
            <Button type="submit" variant="default" loading={handBack.isPending}>{t('handBack')}</Button>
          </Group>
        </form>
      )}

      {c.events.length > 0 && (
        <Stack gap={4} component="section" aria-labelledby="events-title">
          <Title order={3} size="h5" id="events-title">{t('events')}</Title>
          <Box component="ul" aria-label={t('eventsLabel')} m={0} pl="md">
            {c.events.map((e, i) => (
              <li key={`${i}-${e.at}`}>
                <Text size="xs">{formatDateTime(e.at, lang)} — {t(`event_${e.type}` as Msg) ?? e.type}{e.note ? ` (${e.note})` : ''}</Text>
              </li>
            ))}
          </Box>
        </Stack>
      )}
    </Stack>
  );
}

export default function Conversations() {
  const t = useT(conversationsMessages);
  const search = useSearch();
  const selected = new URLSearchParams(search).get('id');

  return (
    <Stack>
      <Title order={1}>{t('title')}</Title>
      <Grid>
        <Grid.Col span={{ base: 12, md: 4 }}>
          <Inbox selected={selected} />
        </Grid.Col>
        <Grid.Col span={{ base: 12, md: 8 }}>
          {selected ? (
            <Paper withBorder p="md">
              <Thread key={selected} id={selected} />
              <Anchor component={Link} href="/conversations" size="sm" hiddenFrom="md">{t('back')}</Anchor>
            </Paper>
          ) : <Text c="dimmed">{t('selectHint')}</Text>}
        </Grid.Col>
      </Grid>
    </Stack>
  );
}
