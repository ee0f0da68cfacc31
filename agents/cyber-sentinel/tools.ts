/**
 * CyberSentinel's tools: the window's security events (counted), the active blocks, a temporary
 * block, and an alert to the admins' security inbox.
 *
 * Neither acting tool waits for a person. A block is protective, temporary (it expires by itself)
 * and reversible (an admin lifts it at DELETE /api/v1/security/blocks/{id}); waiting for a person
 * while an attack runs would defeat it, and it spends no money and erases nothing. The alert is one
 * row in the admins' security inbox (GET /api/v1/security/alerts) and the audit log, not a message
 * sent to each admin, so it does not "message more than one person".
 */
import { z } from 'zod';
import { defineTool } from '../types';
import { once } from '../outcomes';
import { recordAudit } from '../../models/audit';
import { placeBlock, securitySettings } from '../../services/security';
import { findingKey, type EventCount, type Finding } from './core';

export const securityEvents = defineTool({
  name: 'security.events', effect: 'read', needsApproval: false,
  description: 'Security events (failed logins, refresh-token reuse, 401/403 answers) of the last windowMinutes, counted per kind, address and account; and the trusted addresses.',
  input: z.object({ windowMinutes: z.int().min(1).max(1440) }),
  run: async (ctx, input) => {
    const since = new Date(ctx.now().getTime() - input.windowMinutes * 60_000);
    const rows = await ctx.knex('security_events').where('at', '>=', since)
      .groupBy('kind', 'ip', 'account').select('kind', 'ip', 'account').count({ count: '*' })
      .orderBy([{ column: 'kind' }, { column: 'ip' }, { column: 'account' }]);
    const events: EventCount[] = rows.map((r: any) => ({ kind: r.kind, ip: r.ip, account: r.account, count: Number(r.count) }));
    return { events, trustedAddresses: securitySettings.trustedAddresses() };
  },
});

export const securityActiveBlocks = defineTool({
  name: 'security.activeBlocks', effect: 'read', needsApproval: false,
  description: 'The blocks in force now, and those an admin lifted within the window (a person decided: not placed again over the same events).',
  input: z.object({ windowMinutes: z.int().min(1).max(1440) }),
  run: async (ctx, input) => {
    const since = new Date(ctx.now().getTime() - input.windowMinutes * 60_000);
    const rows = await ctx.knex('security_blocks')
      .where((q) => q.whereNull('lifted_at').where('expires_at', '>', ctx.now()))
      .orWhere('lifted_at', '>=', since)
      .orderBy('created_at').select('scope', 'value');
    return rows.map((r: any) => ({ scope: r.scope, value: r.value }));
  },
});

export const securityRecentAlerts = defineTool({
  name: 'security.recentAlerts', effect: 'read', needsApproval: false,
  description: 'The keys (kind:account or kind:address) of findings already alerted within the window, so admins are not alerted every minute for the same attack.',
  input: z.object({ windowMinutes: z.int().min(1).max(1440) }),
  run: async (ctx, input) => {
    const since = new Date(ctx.now().getTime() - input.windowMinutes * 60_000);
    const rows = await ctx.knex('security_alerts').where('created_at', '>=', since).select('findings');
    const keys = new Set<string>();
    for (const r of rows) for (const f of r.findings as Finding[]) keys.add(findingKey(f));
    return [...keys].sort();
  },
});

export const securityBlock = defineTool({
  name: 'security.block', effect: 'act', needsApproval: false,
  description: 'Blocks an address (answered 429) or an account (answered 403) for some minutes; it expires by itself and an admin can lift it.',
  input: z.object({ scope: z.enum(['ip', 'account']), value: z.string().min(1).max(254), minutes: z.int().min(1).max(7 * 1440), reason: z.string().min(1).max(500) }),
  describe: (input) => `Block the ${input.scope === 'ip' ? 'address' : 'account'} ${input.value} for ${input.minutes} minutes: ${input.reason}`,
  run: (ctx, input) => once(ctx, 'security.block', async () => {
    const block = await placeBlock(ctx.knex, { ...input, createdBy: ctx.actor, key: ctx.stepKey, now: ctx.now() });
    return { blockId: block.id, scope: block.scope, value: block.value, expiresAt: block.expiresAt };
  }),
});

export const securityAlert = defineTool({
  name: 'security.alert', effect: 'act', needsApproval: false,
  description: 'Puts one alert with the findings in the admins\' security inbox (and the audit log).',
  input: z.object({ severity: z.enum(['info', 'warning', 'critical']), summary: z.string().min(1).max(500), findings: z.array(z.record(z.string(), z.unknown())).max(500) }),
  describe: (input) => `Alert the admins' security inbox (${input.severity}): ${input.summary}`,
  run: (ctx, input) => once(ctx, 'security.alert', async () => {
    const id = await ctx.knex.transaction(async (trx) => {
      const [row] = await trx('security_alerts').insert({
        severity: input.severity, summary: input.summary, findings: JSON.stringify(input.findings), agent_run_id: ctx.runId, step_key: ctx.stepKey,
      }).onConflict('step_key').ignore().returning('id');
      if (row) await recordAudit(trx, { action: 'security.alert', entityType: 'security_alert', entityId: row.id, data: { severity: input.severity, summary: input.summary, by: ctx.actor } });
      return row?.id ?? (await trx('security_alerts').where({ step_key: ctx.stepKey }).first('id')).id;
    });
    return { alertId: id as string };
  }),
});
