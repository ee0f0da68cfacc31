/**
 * The agents: the 28 of the catalog with their state (available, schedule paused or its next
 * run), their last run, a way to run one with its input, pausing and resuming the periodic ones,
 * and the recent runs of all of them.
 *
 * The live stream carries no agent-run events, so while a run shown here is underway the lists
 * poll; once nothing is underway they rest on the usual invalidation.
 */
import { useState } from 'react';
import { Alert, Anchor, Badge, Button, Group, JsonInput, Modal, SegmentedControl, Stack, Table, Text, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useLocation } from 'wouter';
import { api, ok, type paths } from '../api/client';
import { can, useAuth } from '../auth';
import { formatDateTime, useLang, useT } from '../i18n';
import { agentsMessages } from './agents-messages';
import { RunStatusBadge, isUnderway, runHref, type RunStatus } from './agent-run-status';

type AgentItem = paths['/api/v1/agents']['get']['responses'][200]['content']['application/json']['data'][number];
type RunItem = paths['/api/v1/agent-runs']['get']['responses'][200]['content']['application/json']['data'][number];

const POLL_MS = 2_000;

function inputFields(schema: unknown): string[] {
  const props = (schema as { properties?: Record<string, unknown> } | null)?.properties;
  return props ? Object.keys(props) : [];
}

function RunDialog({ agent, onClose }: { agent: AgentItem; onClose: () => void }) {
  const t = useT(agentsMessages);
  const [, navigate] = useLocation();
  const queryClient = useQueryClient();
  const [input, setInput] = useState('{}');
  const [invalid, setInvalid] = useState(false);
  const detail = useQuery({
    queryKey: ['agents', agent.name],
    queryFn: () => ok(api.GET('/api/v1/agents/{name}', { params: { path: { name: agent.name } } })),
  });
  const start = useMutation({
    mutationFn: (body: Record<string, unknown>) => ok(api.POST('/api/v1/agents/{name}/runs', {
      params: { path: { name: agent.name }, header: { 'Idempotency-Key': crypto.randomUUID() } },
      body: { input: body },
    })),
    onSuccess: (run) => {
      void queryClient.invalidateQueries({ queryKey: ['agent-runs'] });
      void queryClient.invalidateQueries({ queryKey: ['agents'] });
      onClose();
      navigate(runHref(run.id));
    },
  });
  const submit = () => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(input.trim() || '{}');
    } catch {
      parsed = null;
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
      setInvalid(true);
      return;
    }
    setInvalid(false);
    start.mutate(parsed as Record<string, unknown>);
  };
  const fields = detail.data ? inputFields(detail.data.inputSchema) : [];

  return (
    <Modal opened onClose={onClose} title={t('runTitle', { name: agent.name })}>
      <form onSubmit={(e) => { e.preventDefault(); submit(); }}>
        <Stack>
          <Text size="sm">{agent.summary}</Text>
          {detail.data && <Text size="sm" c="dimmed">{fields.length ? t('inputFields', { fields: fields.join(', ') }) : t('inputNoFields')}</Text>}
          <JsonInput
            label={t('inputLabel')}
            description={t('inputHelp')}
            value={input}
            onChange={setInput}
            autosize
            minRows={3}
            error={invalid ? t('inputInvalid') : undefined}
          />
          {start.error && <Alert color="red" title={t('refused')} role="alert">{start.error.message}</Alert>}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>{t('cancel')}</Button>
            <Button type="submit" loading={start.isPending}>{t('start')}</Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

function ScheduleCell({ agent }: { agent: AgentItem }) {
  const t = useT(agentsMessages);
  const { lang } = useLang();
  if (agent.trigger?.kind !== 'schedule') return <Text size="sm" c="dimmed">{t('notPeriodic')}</Text>;
  const s = agent.schedule;
  if (!s) return <Text size="sm" c="dimmed" data-testid="schedule-state" data-state="none">{t('scheduleNone')}</Text>;
  return (
    <Stack gap={2}>
      <Badge color={s.paused ? 'gray' : 'teal'} data-testid="schedule-state" data-state={s.paused ? 'paused' : 'active'}>
        {s.paused ? t('schedulePaused') : t('scheduleActive')}
      </Badge>
      {!s.paused && s.nextRunAt && <Text size="xs">{t('scheduleNext', { at: formatDateTime(s.nextRunAt, lang) })}</Text>}
    </Stack>
  );
}

function AgentRow({ agent, steer, onRun }: { agent: AgentItem; steer: boolean; onRun: (a: AgentItem) => void }) {
  const t = useT(agentsMessages);
  const { lang } = useLang();
  const queryClient = useQueryClient();
  const schedule = useMutation({
    mutationFn: (action: 'pause' | 'resume') => ok(action === 'pause'
      ? api.POST('/api/v1/agents/{name}/schedule/pause', { params: { path: { name: agent.name } }, body: {} })
      : api.POST('/api/v1/agents/{name}/schedule/resume', { params: { path: { name: agent.name } }, body: {} })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['agents'] }),
  });
  const last = agent.lastRuns[0];
  const periodic = agent.available && agent.trigger?.kind === 'schedule';
  const paused = agent.schedule?.paused ?? false;
  const triggerLabel = agent.trigger?.kind === 'schedule' ? t('triggerSchedule') : agent.trigger?.kind === 'event' ? t('triggerEvent') : t('triggerRequest');

  return (
    <Table.Tr data-testid="agent-row" data-agent={agent.name}>
      <Table.Th scope="row" fw={400}>
        <Text fw={600} size="sm">{agent.name}</Text>
        <Text size="xs" c="dimmed" maw={380}>{agent.summary}</Text>
      </Table.Th>
      <Table.Td>
        <Text size="sm">{agent.trigger ? triggerLabel : t('notPeriodic')}</Text>
        {agent.trigger && <Text size="xs" c="dimmed" maw={260}>{agent.trigger.description}</Text>}
      </Table.Td>
      <Table.Td>
        {agent.available
          ? <Badge color="teal" data-testid="agent-available" data-available="true">{t('available')}</Badge>
          : <Text size="sm" c="dimmed" data-testid="agent-available" data-available="false">{t('unavailable')}</Text>}
      </Table.Td>
      <Table.Td><ScheduleCell agent={agent} /></Table.Td>
      <Table.Td>
        {last ? (
          <Stack gap={2}>
            <Anchor component={Link} href={runHref(last.id)} size="sm" aria-label={`${agent.name}: ${formatDateTime(last.startedAt, lang)}`}>
              {formatDateTime(last.startedAt, lang)}
            </Anchor>
            <RunStatusBadge status={last.status as RunStatus} />
          </Stack>
        ) : <Text size="sm" c="dimmed" style={{ whiteSpace: 'nowrap' }}>{t('never')}</Text>}
      </Table.Td>
      <Table.Td>
        {steer && (
          <Stack gap={4} align="flex-start">
            <Button size="xs" disabled={!agent.available} onClick={() => onRun(agent)} aria-label={t('runAgent', { name: agent.name })}>{t('run')}</Button>
            {periodic && (
              <Button
                size="xs"
                variant="default"
                loading={schedule.isPending}
                onClick={() => schedule.mutate(paused ? 'resume' : 'pause')}
                aria-label={paused ? t('resumeSchedule', { name: agent.name }) : t('pauseSchedule', { name: agent.name })}
              >
                {paused ? t('resume') : t('pause')}
              </Button>
            )}
            {schedule.error && <Alert color="red" role="alert" p={4}>{schedule.error.message}</Alert>}
          </Stack>
        )}
      </Table.Td>
    </Table.Tr>
  );
}

const STATUS_FILTERS = ['all', 'running', 'waiting_approval', 'completed', 'failed'] as const;
type StatusFilter = (typeof STATUS_FILTERS)[number];

function RecentRuns() {
  const t = useT(agentsMessages);
  const { lang } = useLang();
  const [status, setStatus] = useState<StatusFilter>('all');
  // One page at a time: older pages by cursor, and back to the newest.
  const [cursor, setCursor] = useState<string | undefined>();
  const runs = useQuery({
    queryKey: ['agent-runs', status, cursor ?? null],
    queryFn: () => ok(api.GET('/api/v1/agent-runs', { params: { query: { limit: 20, cursor, ...(status === 'all' ? {} : { status }) } } })),
    refetchInterval: (q) => (q.state.data?.data.some((r) => isUnderway(r.status)) ? POLL_MS : false),
  });
  const statusLabel: Record<StatusFilter, string> = {
    all: t('all'), running: t('statusRunning'), waiting_approval: t('statusWaiting'), completed: t('statusCompleted'), failed: t('statusFailed'),
  };

  return (
    <Stack component="section" aria-labelledby="recent-runs">
      <Group justify="space-between">
        <Title order={2} id="recent-runs">{t('recentRuns')}</Title>
        <SegmentedControl
          aria-label={t('filterStatus')}
          value={status}
          onChange={(v) => { setStatus(v as StatusFilter); setCursor(undefined); }}
          data={STATUS_FILTERS.map((s) => ({ value: s, label: statusLabel[s] }))}
        />
      </Group>
      {runs.error && <Alert color="red" title={t('loadFailed')} role="alert">{runs.error.message}</Alert>}
      <Table.ScrollContainer minWidth={700}>
        <Table aria-label={t('runsLabel')} striped>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>{t('colAgent')}</Table.Th>
              <Table.Th>{t('colStatus')}</Table.Th>
              <Table.Th>{t('colRunTrigger')}</Table.Th>
              <Table.Th>{t('colMode')}</Table.Th>
              <Table.Th>{t('colStarted')}</Table.Th>
              <Table.Th>{t('colEnded')}</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {runs.data?.data.map((r: RunItem) => (
              <Table.Tr key={r.id} data-testid="run-row">
                <Table.Td><Anchor component={Link} href={runHref(r.id)} size="sm">{r.agent}</Anchor></Table.Td>
                <Table.Td><RunStatusBadge status={r.status} /></Table.Td>
                <Table.Td><Text size="sm">{t(`trigger_${r.trigger}`)}</Text></Table.Td>
                <Table.Td><Text size="sm">{r.mode === 'model' ? t('modeModel') : t('modeCore')}</Text></Table.Td>
                <Table.Td><Text size="sm">{formatDateTime(r.startedAt, lang)}</Text></Table.Td>
                <Table.Td><Text size="sm">{formatDateTime(r.endedAt, lang)}</Text></Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
      {runs.data && !runs.data.data.length && <Text c="dimmed">{t('noRuns')}</Text>}
      <Group>
        {cursor && <Button variant="default" size="xs" onClick={() => setCursor(undefined)}>{t('newest')}</Button>}
        {runs.data?.hasMore && runs.data.nextCursor && (
          <Button variant="default" size="xs" onClick={() => setCursor(runs.data!.nextCursor ?? undefined)}>{t('older')}</Button>
        )}
      </Group>
    </Stack>
  );
}

export default function Agents() {
  const t = useT(agentsMessages);
  const { user } = useAuth();
  const steer = can.steer(user?.role);
  const [running, setRunning] = useState<AgentItem | null>(null);
  const agents = useQuery({
    queryKey: ['agents'],
    queryFn: () => ok(api.GET('/api/v1/agents')),
    refetchInterval: (q) => (q.state.data?.data.some((a) => a.lastRuns.some((r) => isUnderway(r.status))) ? POLL_MS : false),
  });

  return (
    <Stack>
      <Title order={1}>{t('title')}</Title>
      <Text c="dimmed">{t('intro')}</Text>
      {!steer && <Alert color="blue">{t('readOnly')}</Alert>}
      {agents.error && <Alert color="red" title={t('loadFailed')} role="alert">{agents.error.message}</Alert>}
      {agents.isPending && <Text>{t('loading')}</Text>}
      {agents.data && (
        <Table.ScrollContainer minWidth={900}>
          <Table aria-label={t('tableLabel')} verticalSpacing="xs" data-testid="agents-table" data-count={agents.data.data.length}>
            <Table.Thead>
              <Table.Tr>
                <Table.Th scope="col">{t('colAgent')}</Table.Th>
                <Table.Th scope="col">{t('colTrigger')}</Table.Th>
                <Table.Th scope="col">{t('colState')}</Table.Th>
                <Table.Th scope="col">{t('colSchedule')}</Table.Th>
                <Table.Th scope="col">{t('colLastRun')}</Table.Th>
                <Table.Th scope="col">{t('colActions')}</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {agents.data.data.map((a) => <AgentRow key={a.name} agent={a} steer={steer} onRun={setRunning} />)}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      <RecentRuns />
      {running && <RunDialog agent={running} onClose={() => setRunning(null)} />}
    </Stack>
  );
}
