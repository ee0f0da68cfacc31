/** A run's status as a badge, the same on the Agents screen and on a run's page. */
import { Badge } from '@mantine/core';
import { useT } from '../i18n';
import { agentsMessages } from './agents-messages';

export type RunStatus = 'running' | 'waiting_approval' | 'completed' | 'failed';

// Filled badges use shade 9: white text stays above 4.5:1 (green, yellow and orange would not).
const LOOK: Record<RunStatus, { color: string; key: 'statusRunning' | 'statusWaiting' | 'statusCompleted' | 'statusFailed' }> = {
  running: { color: 'blue', key: 'statusRunning' },
  waiting_approval: { color: 'grape', key: 'statusWaiting' },
  completed: { color: 'teal', key: 'statusCompleted' },
  failed: { color: 'red', key: 'statusFailed' },
};

export function RunStatusBadge({ status }: { status: RunStatus }) {
  const t = useT(agentsMessages);
  const look = LOOK[status];
  return <Badge miw="max-content" color={look.color} data-testid="run-status" data-status={status}>{t(look.key)}</Badge>;
}

export const isUnderway = (status: RunStatus) => status === 'running' || status === 'waiting_approval';

export function runHref(id: string): string {
  return `/agents/runs/${encodeURIComponent(id)}`;
}
