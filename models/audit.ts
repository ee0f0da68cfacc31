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
}
