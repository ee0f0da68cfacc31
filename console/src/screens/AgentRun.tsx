/**
 * One agent run: its summary, every step (model turns, tool calls with their input and output,
 * approvals, the core), its output and narrative, the actions it proposed and the approvals
 * they wait for (decided in the approvals inbox, not here).
 *
 * While the run is underway the page polls it (the live stream has no agent-run events); its
 * approvals follow the live ['approvals'] invalidation.
 */
import { Alert, Anchor, Badge, Code, Group, Paper, SimpleGrid, Stack, Table, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { Link } from 'wouter';
import { api, ok, type paths } from '../api/client';
import { formatDateTime, useLang, useT } from '../i18n';
import { agentRunMessages } from './agent-run-messages';
import { agentsMessages } from './agents-messages';
import { RunStatusBadge, isUnderway } from './agent-run-status';

type RunDetail = paths['/api/v1/agent-runs/{id}']['get']['responses'][200]['content']['application/json'];
type Step = RunDetail['steps'][number];
type Approval = paths['/api/v1/approvals']['get']['responses'][200]['content']['application/json']['data'][number];
interface ActionOutcome { tool: string; status: string; result?: unknown; error?: string }

const POLL_MS = 1_500;

function safeDecode(id: string): string {
  try {
    return decodeURIComponent(id);
  } catch {
    return id;
  }
}

function Json({ value, label }: { value: unknown; label: string }) {
  return (
    // Focusable, so a keyboard can scroll a long value too.
    <div role="group" aria-label={label} tabIndex={0} style={{ maxHeight: 260, overflow: 'auto' }}>
      <Code block>{JSON.stringify(value, null, 2)}</Code>
    </div>
  );
}

/** The actions a run reports in its output (the runtime adds them as output.actions). */
function actionsOf(output: unknown): ActionOutcome[] {
  const actions = (output as { actions?: unknown } | null)?.actions;
  return Array.isArray(actions) ? actions.filter((a): a is ActionOutcome => !!a && typeof (a as ActionOutcome).tool === 'string') : [];
}

/** Before the run ends, what its core proposed (the core step's output), not yet acted on. */
function proposedOf(steps: Step[]): ActionOutcome[] {
  const core = [...steps].reverse().find((st) => st.kind === 'core');
  return actionsOf(core?.output).map((a) => ({ tool: a.tool, status: 'proposed', result: (a as { reason?: unknown }).reason }));
}

function StepItem({ step, index }: { step: Step; index: number }) {
  const t = useT(agentRunMessages);
  const { lang } = useLang();
  return (
    <Paper component="li" withBorder p="sm" data-testid="run-step" data-kind={step.kind}>
      <Stack gap="xs">
        <Group justify="space-between" wrap="nowrap">
          <Group gap="xs">
            <Text size="sm" c="dimmed">{index + 1}.</Text>
            <Badge variant="outline" color="dark">{t(`stepKind_${step.kind}`)}</Badge>
            <Text fw={600} size="sm">{step.name}</Text>
          </Group>
          <Text size="xs" c="dimmed">
            {formatDateTime(step.startedAt, lang)}{step.endedAt ? ` → ${formatDateTime(step.endedAt, lang)}` : ` · ${t('stepRunning')}`}
          </Text>
        </Group>
        {step.input !== undefined && (
          <Stack gap={2}>
            <Text size="xs" fw={600}>{t('stepInput', { name: step.name })}</Text>
            <Json value={step.input} label={t('stepInput', { name: step.name })} />
          </Stack>
        )}
        {step.output !== undefined && (
          <Stack gap={2}>
            <Text size="xs" fw={600}>{t('stepOutput', { name: step.name })}</Text>
            <Json value={step.output} label={t('stepOutput', { name: step.name })} />
          </Stack>
        )}
        {step.error && <Alert color="red" title={t('stepError')} p="xs">{step.error}</Alert>}
      </Stack>
    </Paper>
  );
}

function RunApprovals({ runId, pending }: { runId: string; pending: string[] }) {
  const t = useT(agentRunMessages);
  const { lang } = useLang();
  const approvals = useQuery({
    queryKey: ['approvals', 'agent-run', runId],
    queryFn: () => ok(api.GET('/api/v1/approvals', { params: { query: { kind: 'agent_action', limit: 100 } } })),
    select: (page) => page.data.filter((a: Approval) => a.agentRunId === runId),
  });
  const rows = approvals.data ?? [];
  return (
    <Stack component="section" aria-labelledby="run-approvals">
      <Title order={2} id="run-approvals">{t('approvals')}</Title>
      {pending.length > 0 && (
        <Alert color="grape" data-testid="pending-approvals">
          <Group justify="space-between">
            <Text size="sm">{t('pendingNote', { n: pending.length })}</Text>
            {/* The alert's tint under the theme's link colour is under 4.5:1: its own dark shade instead. */}
            <Anchor component={Link} href="/approvals" size="sm" c="grape.9" fw={600}>{t('openInbox')}</Anchor>
          </Group>
        </Alert>
      )}
      {rows.length ? (
        <Table.ScrollContainer minWidth={600}>
          <Table aria-label={t('approvalsLabel')}>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>{t('colWhat')}</Table.Th>
                <Table.Th>{t('colStatus')}</Table.Th>
                <Table.Th>{t('colRequested')}</Table.Th>
                <Table.Th>{t('colDecided')}</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {rows.map((a) => (
                <Table.Tr key={a.id} data-testid="run-approval" data-status={a.status}>
                  <Table.Td><Text size="sm" style={{ whiteSpace: 'pre-line' }}>{a.what}</Text></Table.Td>
                  <Table.Td><Badge miw="max-content" color={a.status === 'pending' ? 'grape' : a.status === 'approved' ? 'teal' : 'gray'}>{t(`approval_${a.status}`)}</Badge></Table.Td>
                  <Table.Td><Text size="sm">{formatDateTime(a.requestedAt, lang)}</Text></Table.Td>
                  <Table.Td><Text size="sm">{formatDateTime(a.decidedAt, lang)}{a.decisionNote ? ` — ${a.decisionNote}` : ''}</Text></Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      ) : approvals.isSuccess && <Text c="dimmed">{t('noApprovals')}</Text>}
      {rows.length > 0 && pending.length === 0 && <Anchor component={Link} href="/approvals" size="sm">{t('openInbox')}</Anchor>}
    </Stack>
  );
}

export default function AgentRun({ params }: { params: Record<string, string> }) {
  const t = useT(agentRunMessages);
  const ta = useT(agentsMessages);
  const { lang } = useLang();
  const id = safeDecode(params.id ?? '');
  const run = useQuery({
    queryKey: ['agent-runs', 'run', id],
    queryFn: () => ok(api.GET('/api/v1/agent-runs/{id}', { params: { path: { id } } })),
    refetchInterval: (q) => (q.state.data && isUnderway(q.state.data.status) ? POLL_MS : false),
  });

  if (run.error) {
    return (
      <Stack>
        <Title order={1}>{t('loadFailed')}</Title>
        <Alert color="red" role="alert">{run.error.message}</Alert>
        <Anchor component={Link} href="/agents">{t('back')}</Anchor>
      </Stack>
    );
  }
  if (!run.data) return <Text>{t('loading')}</Text>;
  const r = run.data;
  const actions = r.output === null ? proposedOf(r.steps) : actionsOf(r.output);

  return (
    <Stack>
      <Anchor component={Link} href="/agents" size="sm">← {t('back')}</Anchor>
      <Group justify="space-between">
        <Title order={1}>{t('title', { agent: r.agent })}</Title>
        <RunStatusBadge status={r.status} />
      </Group>
      {isUnderway(r.status) && <Text size="sm" c="dimmed" aria-live="polite">{t('live')}</Text>}

      <Paper withBorder p="md" component="section" aria-label={t('summaryLabel')}>
        <SimpleGrid cols={{ base: 2, md: 4 }}>
          <div><Text size="xs" c="dimmed">{t('mode')}</Text><Text size="sm">{r.mode === 'model' ? ta('modeModel') : ta('modeCore')}</Text></div>
          <div><Text size="xs" c="dimmed">{t('trigger')}</Text><Text size="sm">{ta(`trigger_${r.trigger}`)}</Text></div>
          <div><Text size="xs" c="dimmed">{t('started')}</Text><Text size="sm">{formatDateTime(r.startedAt, lang)}</Text></div>
          <div><Text size="xs" c="dimmed">{t('ended')}</Text><Text size="sm">{formatDateTime(r.endedAt, lang)}</Text></div>
          <div><Text size="xs" c="dimmed">{t('occasion')}</Text><Text size="sm" style={{ wordBreak: 'break-all' }}>{r.occasion}</Text></div>
          {r.mode === 'model' && (
            <div>
              <Text size="xs" c="dimmed">{t('usage')}</Text>
              <Text size="sm">{t('usageValue', { in: r.usage.inputTokens, out: r.usage.outputTokens, cost: r.usage.cost })}</Text>
            </div>
          )}
        </SimpleGrid>
      </Paper>
      {r.error && <Alert color="red" title={t('error')} role="alert">{r.error}</Alert>}

      <Stack component="section" aria-labelledby="run-input" gap="xs">
        <Title order={2} id="run-input">{t('input')}</Title>
        <Json value={r.input} label={t('input')} />
      </Stack>

      <Stack component="section" aria-labelledby="run-steps" gap="xs">
        <Title order={2} id="run-steps">{t('steps')}</Title>
        {r.steps.length ? (
          <Stack component="ol" gap="xs" aria-label={t('stepsLabel')} p={0} m={0} style={{ listStyle: 'none' }} data-testid="run-steps" data-count={r.steps.length}>
            {r.steps.map((s, i) => <StepItem key={`${i}-${s.name}`} step={s} index={i} />)}
          </Stack>
        ) : <Text c="dimmed">{t('noSteps')}</Text>}
      </Stack>

      <Stack component="section" aria-labelledby="run-narrative" gap="xs">
        <Title order={2} id="run-narrative">{t('narrative')}</Title>
        <Text data-testid="run-narrative" style={{ whiteSpace: 'pre-line' }}>{r.narrative ?? t('noNarrative')}</Text>
      </Stack>

      <Stack component="section" aria-labelledby="run-actions" gap="xs">
        <Title order={2} id="run-actions">{t('actions')}</Title>
        {actions.length ? (
          <Table.ScrollContainer minWidth={600}>
            <Table aria-label={t('actionsLabel')}>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>{t('colTool')}</Table.Th>
                  <Table.Th>{t('colStatus')}</Table.Th>
                  <Table.Th>{t('colResult')}</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {actions.map((a, i) => (
                  <Table.Tr key={`${i}-${a.tool}`} data-testid="run-action" data-status={a.status}>
                    <Table.Td><Code>{a.tool}</Code></Table.Td>
                    <Table.Td><Text size="sm">{a.status === 'proposed' ? t('proposed') : a.status}</Text></Table.Td>
                    <Table.Td>
                      {a.error ? <Text size="sm" c="red.9">{a.error}</Text>
                        : typeof a.result === 'string' ? <Text size="sm">{a.result}</Text>
                          : a.result !== undefined ? <Json value={a.result} label={`${t('colResult')}: ${a.tool}`} /> : '—'}
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        ) : <Text c="dimmed">{r.output === null && isUnderway(r.status) ? t('noOutput') : t('noActions')}</Text>}
      </Stack>

      <RunApprovals runId={r.id} pending={r.pendingApprovals} />

      <Stack component="section" aria-labelledby="run-output" gap="xs">
        <Title order={2} id="run-output">{t('output')}</Title>
        {r.output === null ? <Text c="dimmed">{t('noOutput')}</Text> : <Json value={r.output} label={t('output')} />}
      </Stack>
    </Stack>
  );
}
