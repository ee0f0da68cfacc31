import { BaseModel } from './base';
import { Partner } from './partner';

export class Customer extends BaseModel {
  static override tableName = 'customers';
  id!: string;
  branchId!: string | null;
  partnerId!: string | null;
  firstName!: string;
  lastName!: string;
  email!: string | null;
  phone!: string | null;
  language!: 'es' | 'en';
  country!: string | null;
  consentEmailMarketing!: boolean;
  consentWhatsapp!: boolean;
  tags!: string[];
  lifetimeValueMinor!: number;
  notes!: string | null;

  static override relationMappings = () => ({
    partner: { relation: BaseModel.BelongsToOneRelation, modelClass: Partner, join: { from: 'customers.partner_id', to: 'partners.id' } },
  });
}
