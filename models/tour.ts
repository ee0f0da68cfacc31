import { BaseModel } from './base';
import { Branch } from './branch';

export const LANGUAGES = ['es', 'en'] as const;
export type Language = (typeof LANGUAGES)[number];

export class Tour extends BaseModel {
  static override tableName = 'tours';
  id!: string;
  code!: string;
  branchId!: string;
  category!: string;
  destinationCity!: string;
  destinationCountry!: string;
  durationMinutes!: number;
  status!: 'draft' | 'active' | 'archived';
  minPax!: number;
  maxPax!: number;
  currency!: string;
  meetingLat!: string | null;
  meetingLng!: string | null;
  inclusions!: string[];
  accessibility!: string[];
  sustainability!: Record<string, unknown>;
  branch?: Branch;

  static override relationMappings = () => ({
    branch: { relation: BaseModel.BelongsToOneRelation, modelClass: Branch, join: { from: 'tours.branch_id', to: 'branches.id' } },
  });
}
