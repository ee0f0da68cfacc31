import { BaseModel } from './base';

export class Branch extends BaseModel {
  static override tableName = 'branches';
  id!: string;
  code!: string;
  name!: string;
  country!: string;
  timezone!: string;
  currency!: string;
  taxRateBp!: number;
  taxIdType!: string;
  invoicePrefix!: string;
}
