import { BaseModel } from './base';
import { Branch } from './branch';
import { Partner } from './partner';

export const ROLES = ['admin', 'operator', 'marketer', 'accountant', 'partner', 'customer'] as const;
export type Role = (typeof ROLES)[number];

export class User extends BaseModel {
  static override tableName = 'users';
  id!: string;
  email!: string;
  name!: string;
  passwordHash!: string;
  role!: Role;
  branchId!: string | null;
  partnerId!: string | null;
  customerId!: string | null;
  active!: boolean;
  lastLoginAt!: Date | null;
  /** Raised to end every session at once; access and refresh tokens carry the epoch they were issued in. */
  sessionEpoch!: number;
  passwordChangedAt!: Date | null;
  createdAt!: Date;
  updatedAt!: Date;

  static findByEmail(email: string) {
    return User.query().whereRaw('lower(email) = lower(?)', [email]).first();
  }

  static override relationMappings = () => ({
    branch: { relation: BaseModel.BelongsToOneRelation, modelClass: Branch, join: { from: 'users.branch_id', to: 'branches.id' } },
    partner: { relation: BaseModel.BelongsToOneRelation, modelClass: Partner, join: { from: 'users.partner_id', to: 'partners.id' } },
  });
}

/** A password reset link: single-use, short-lived; only the SHA-256 of its token is stored. */
export class PasswordResetToken extends BaseModel {
  static override tableName = 'password_reset_tokens';
  id!: string;
  userId!: string;
  tokenHash!: string;
  expiresAt!: Date;
  usedAt!: Date | null;
  requestedIp!: string | null;
  createdAt!: Date;
}

export class RefreshToken extends BaseModel {
  static override tableName = 'refresh_tokens';
  id!: string;
  userId!: string;
  familyId!: string;
  expiresAt!: Date;
  usedAt!: Date | null;
  revokedAt!: Date | null;
}
