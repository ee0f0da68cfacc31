/**
 * The audit log: who steered what (logins, cancellations, refunds and approvals, amendments,
 * consent changes, imports, test sends, campaign schedules, user changes). Append-only and
 * hash-chained in the database (migrations/20261201000400_hardening.ts): each row stores
 * sha256(its content + the previous row's hash), computed by a trigger inside the inserting
 * transaction under the chain head's lock, so a row changed, removed or slipped in afterwards
 * breaks the chain and `verifyAuditChain` says where.
 *
 * Write with `recordAudit` (or any insert: the trigger chains every row). Pass the transaction
 * that makes the change, so the entry exists exactly when the change does; write it last in
 * that transaction, since the chain lock is held until commit.
 */
import type { Knex } from 'knex';
import { BaseModel } from './base';

export class AuditEntry extends BaseModel {
  static override tableName = 'audit_log';
  id!: number;
  actorUserId!: string | null;
  action!: string;
  entityType!: string;
  entityId!: string | null;
  data!: Record<string, unknown>;
  requestId!: string | null;
  ip!: string | null;
  at!: Date;
  prevHash!: string;
  hash!: string;
}

export interface AuditInput {
  /** What was done, as `entity.verb`: booking.cancel_requested, contact.consent_changed, ... (at most 64 characters). */
  action: string;
  /** booking, approval, contact, contact_import, template, campaign, user, ... (at most 32 characters). */
  entityType: string;
  entityId?: string | null;
  /** The user who did it; null for the system or an anonymous person (e.g. an unsubscribe link). */
  actorUserId?: string | null;
  /** What was asked and what came of it: small, no secrets, no capability URLs. */
  data?: Record<string, unknown>;
  requestId?: string | null;
  ip?: string | null;
}

/** Records one audit entry in `db` (the change's own transaction, when there is one). */
export async function recordAudit(db: Knex | Knex.Transaction, entry: AuditInput): Promise<void> {
  await db('audit_log').insert({
    actor_user_id: entry.actorUserId ?? null, action: entry.action, entity_type: entry.entityType, entity_id: entry.entityId ?? null,
    data: JSON.stringify(entry.data ?? {}), request_id: entry.requestId ?? null, ip: entry.ip ?? null,
  });
}

/** The actor, request id and address of an API request, for `recordAudit` (structural, so models need not know Koa). */
export function auditActor(ctx: { state: { principal?: { userId: string }; requestId?: string }; ip?: string }): Pick<AuditInput, 'actorUserId' | 'requestId' | 'ip'> {
  return { actorUserId: ctx.state.principal?.userId ?? null, requestId: ctx.state.requestId ?? null, ip: ctx.ip ?? null };
}

export interface AuditChainReport {
  ok: boolean;
  /** Rows checked. */
  checked: number;
  lastId: number | null;
  /** The first row where the chain breaks, and how. */
  broken?: { id: number | null; reason: 'content_changed' | 'link_broken' | 'head_mismatch'; detail: string };
}

/**
 * Recomputes every row's hash and follows the links, in id order, a page at a time. Catches a
 * row whose content was changed, a row removed or inserted out of the chain, and a tail cut off
 * (the head keeps the last hash). A rewrite of the whole chain by someone who can also run SQL
 * as the owner is not caught here: keep a copy of the head's hash elsewhere (e.g. the daily
 * backup's log) to anchor it.
 */
export async function verifyAuditChain(knex: Knex, pageSize = 5000): Promise<AuditChainReport> {
  let prev = '';
  let afterId = 0;
  let checked = 0;
  let lastId: number | null = null;
  for (;;) {
    const { rows } = await knex.raw(
      `select id, prev_hash, hash, audit_log_row_hash(a) as expected from audit_log a where id > ? order by id limit ?`,
      [afterId, pageSize],
    ) as { rows: Array<{ id: string; prev_hash: string; hash: string; expected: string }> };
    for (const row of rows) {
      const id = Number(row.id);
      if (row.prev_hash !== prev) {
        return { ok: false, checked, lastId, broken: { id, reason: 'link_broken', detail: `row ${id} does not follow row ${lastId ?? '(start)'}: a row was removed, inserted or its hash rewritten` } };
      }
      if (row.expected !== row.hash) {
        return { ok: false, checked, lastId, broken: { id, reason: 'content_changed', detail: `row ${id}'s content no longer matches its hash` } };
      }
      prev = row.hash;
      lastId = id;
      checked++;
    }
    if (rows.length < pageSize) break;
    afterId = Number(rows[rows.length - 1].id);
  }
  const head = await knex('audit_chain_head').first('last_id', 'last_hash');
  if (!head || head.last_hash !== prev) {
    return { ok: false, checked, lastId, broken: { id: head?.last_id === null || head?.last_id === undefined ? null : Number(head.last_id), reason: 'head_mismatch', detail: 'the chain ends before its last recorded row: rows were removed from the end' } };
  }
  return { ok: true, checked, lastId };
}
