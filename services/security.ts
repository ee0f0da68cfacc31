/**
 * Security blocks and events as a service for the API routes and CyberSentinel's tools. Blocks
 * are rows of security_blocks; a trigger NOTIFYs every API instance of each change (api/security.ts
 * keeps the in-process copy the guard reads). Knows nothing of HTTP.
 */
import type { Knex } from 'knex';
import { recordAudit } from '../models/audit';

const int = (value: string | undefined, fallback: number) => (value && /^\d+$/.test(value) ? Number(value) : fallback);

export const securitySettings = {
  /** Comma-separated addresses that are never blocked and whose events CyberSentinel ignores (our own hosts, a test runner). */
  trustedAddresses: () => (process.env.SECURITY_TRUSTED_ADDRESSES || '').split(',').map((s) => s.trim()).filter(Boolean),
  /** How often the API writes the security events it buffered. */
  flushMs: () => int(process.env.SECURITY_EVENTS_FLUSH_MS, 200),
  /** The backstop reload of active blocks, should a NOTIFY be lost. */
  refreshMs: () => int(process.env.SECURITY_BLOCKS_REFRESH_MS, 30_000),
};

export interface BlockRow {
  id: string;
  scope: 'ip' | 'account';
  value: string;
  userId: string | null;
  reason: string;
  expiresAt: string;
  createdBy: string;
  createdAt: string;
  liftedAt: string | null;
}

export const blockView = (r: Record<string, any>): BlockRow => ({
  id: r.id, scope: r.scope, value: r.value, userId: r.user_id, reason: r.reason, expiresAt: new Date(r.expires_at).toISOString(),
  createdBy: r.created_by, createdAt: new Date(r.created_at).toISOString(), liftedAt: r.lifted_at ? new Date(r.lifted_at).toISOString() : null,
});

/** Places a temporary block, once per key (a retried call finds the block it placed). */
export async function placeBlock(knex: Knex, block: { scope: 'ip' | 'account'; value: string; minutes: number; reason: string; createdBy: string; key: string; now: Date }): Promise<BlockRow> {
  const value = block.scope === 'account' ? block.value.toLowerCase() : block.value;
  let userId: string | null = null;
  if (block.scope === 'account') {
    const user = value.startsWith('user:')
      ? await knex('users').where({ id: value.slice(5) }).first('id')
      : await knex('users').whereRaw('lower(email) = ?', [value]).first('id');
    userId = user?.id ?? null;
  }
  await knex.transaction(async (trx) => {
    const [row] = await trx('security_blocks').insert({
      scope: block.scope, value, user_id: userId, reason: block.reason, expires_at: new Date(block.now.getTime() + block.minutes * 60_000), created_by: block.createdBy, step_key: block.key,
    }).onConflict('step_key').ignore().returning('id');
    if (row) await recordAudit(trx, { action: 'security.block', entityType: 'security_block', entityId: row.id, data: { scope: block.scope, value, minutes: block.minutes, reason: block.reason, by: block.createdBy } });
  });
  return blockView(await knex('security_blocks').where({ step_key: block.key }).first());
}

export async function liftBlock(knex: Knex, id: string, by: { userId: string; requestId?: string; ip?: string }): Promise<BlockRow | undefined> {
  return knex.transaction(async (trx) => {
    const row = await trx('security_blocks').where({ id }).forUpdate().first();
    if (!row) return undefined;
    if (!row.lifted_at) {
      await trx('security_blocks').where({ id }).update({ lifted_at: new Date(), lifted_by_user_id: by.userId });
      await recordAudit(trx, { actorUserId: by.userId, action: 'security.unblock', entityType: 'security_block', entityId: id, data: { scope: row.scope, value: row.value }, requestId: by.requestId, ip: by.ip });
    }
    return blockView(await trx('security_blocks').where({ id }).first());
  });
}
