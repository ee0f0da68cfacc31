/**
 * Incidents as a service: record one (a supplier failure, or a crisis at a place and time) and
 * start the agent that handles it: SupplyChain for a supplier, CrisisManager for a crisis (when
 * that agent is available; the incident is kept either way). One run per incident: the run's
 * occasion is `incident-<id>`. Knows nothing of HTTP.
 */
import type { Client } from '@temporalio/client';
import type { Knex } from 'knex';
import { isAvailable } from '../agents';
import { startAgentRun } from './agent-runs';

export type IncidentReport =
  | { kind: 'supplier'; supplier: string; from: string; to: string; message?: string }
  | { kind: 'crisis'; lat: number; lng: number; radiusKm: number; from: string; to: string; message: string };

export interface IncidentRecord {
  id: string;
  kind: 'supplier' | 'crisis';
  supplier: string | null;
  lat: number | null;
  lng: number | null;
  radiusKm: number | null;
  from: string;
  to: string;
  message: string | null;
  status: string;
  reportedBy: string | null;
  createdAt: string;
}

const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function incidentOf(r: any): IncidentRecord {
  return {
    id: r.id, kind: r.kind, supplier: r.supplier ?? null, lat: num(r.lat), lng: num(r.lng), radiusKm: num(r.radius_km),
    from: new Date(r.from_at).toISOString(), to: new Date(r.to_at).toISOString(), message: r.message ?? null, status: r.status,
    reportedBy: r.reported_by ?? null, createdAt: new Date(r.created_at).toISOString(),
  };
}

export function incidentOccasion(id: string): string {
  return `incident-${id}`;
}

export async function reportIncident(
  client: Client, knex: Knex, report: IncidentReport, reportedBy: string | null,
): Promise<{ incident: IncidentRecord; runId: string | null; note: string | null }> {
  const [row] = await knex('incidents').insert({
    kind: report.kind, supplier: report.kind === 'supplier' ? report.supplier.trim() : null,
    lat: report.kind === 'crisis' ? report.lat : null, lng: report.kind === 'crisis' ? report.lng : null, radius_km: report.kind === 'crisis' ? report.radiusKm : null,
    from_at: new Date(report.from), to_at: new Date(report.to), message: report.message ?? null, reported_by: reportedBy,
  }).returning('*');
  const incident = incidentOf(row);
  const occasion = incidentOccasion(incident.id);
  if (report.kind === 'supplier') {
    const { runId } = await startAgentRun(client, knex, {
      agent: 'SupplyChain', input: { incidentId: incident.id, supplier: incident.supplier, from: incident.from, to: incident.to }, occasion, trigger: 'event', requestedBy: reportedBy,
    });
    return { incident, runId, note: null };
  }
  if (!isAvailable('CrisisManager')) {
    return { incident, runId: null, note: 'The incident is recorded; the crisis agent (CrisisManager) is not yet available, so nobody has been notified automatically.' };
  }
  const { runId } = await startAgentRun(client, knex, {
    agent: 'CrisisManager', occasion, trigger: 'event', requestedBy: reportedBy,
    input: { incidentId: incident.id, lat: incident.lat, lng: incident.lng, radiusKm: incident.radiusKm, from: incident.from, to: incident.to, message: incident.message },
  });
  return { incident, runId, note: null };
}
