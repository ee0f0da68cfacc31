/** What the agent tests wait for through the API: a run that has ended, an action waiting in the inbox. */
import { api } from './http';
import { eventually } from './bookings';

/** The run's view once it is completed or failed. */
export function agentRunFinished(runId: string, token: string, timeoutMs = 60_000) {
  return eventually(async () => {
    const r = await api('GET', `/api/v1/agent-runs/${encodeURIComponent(runId)}`, { token });
    return ['completed', 'failed'].includes(r.body.status) && r.body;
  }, timeoutMs);
}

/** The run's pending agent action in the inbox, as `token` sees it. */
export function pendingAgentApproval(runId: string, token: string, timeoutMs?: number) {
  return eventually(async () => {
    const list = await api('GET', '/api/v1/approvals?status=pending&kind=agent_action&limit=100', { token });
    return list.body.data.find((a: { agentRunId: string }) => a.agentRunId === runId);
  }, timeoutMs);
}
