import { BaseModel } from './base';
import { Branch } from './branch';

export type PartnerKind = 'tour_operator' | 'travel_agency' | 'reseller';

export class Partner extends BaseModel {
  static override tableName = 'partners';
  id!: string;
  code!: string;
  name!: string;
  kind!: PartnerKind;
  branchId!: string;
  parentPartnerId!: string | null;
  commissionBp!: number;
  paymentTermsDays!: number;
  statementPeriod!: 'monthly' | 'fortnightly' | 'contract';
  creditLimitMinor!: number;
  currency!: string;
  status!: 'active' | 'suspended';
  branch?: Branch;

  static override relationMappings = () => ({
    branch: { relation: BaseModel.BelongsToOneRelation, modelClass: Branch, join: { from: 'partners.branch_id', to: 'branches.id' } },
    parent: { relation: BaseModel.BelongsToOneRelation, modelClass: Partner, join: { from: 'partners.parent_partner_id', to: 'partners.id' } },
  });
}
