import { BaseModel } from './base';
import { Branch } from './branch';

export const LANGUAGES = ['es', 'en'] as const;
export type Language = (typeof LANGUAGES)[number];
export const PAX_TYPES = ['adult', 'child', 'infant'] as const;
export type PaxType = (typeof PAX_TYPES)[number];

export class TourTranslation extends BaseModel {
  static override tableName = 'tour_translations';
  static override idColumn = ['tour_id', 'language'];
  tourId!: string;
  language!: Language;
  title!: string;
  summary!: string;
  description!: string;
  itinerary!: Array<{ title: string; detail: string }>;
  meetingPoint!: string;
}

export class TourPrice extends BaseModel {
  static override tableName = 'tour_prices';
  static override idColumn = ['tour_id', 'pax_type'];
  tourId!: string;
  paxType!: PaxType;
  amountMinor!: number;
  minAge!: number | null;
  maxAge!: number | null;
}

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
  translations?: TourTranslation[];
  prices?: TourPrice[];
  branch?: Branch;

  static override relationMappings = () => ({
    branch: { relation: BaseModel.BelongsToOneRelation, modelClass: Branch, join: { from: 'tours.branch_id', to: 'branches.id' } },
    translations: { relation: BaseModel.HasManyRelation, modelClass: TourTranslation, join: { from: 'tours.id', to: 'tour_translations.tour_id' } },
    prices: { relation: BaseModel.HasManyRelation, modelClass: TourPrice, join: { from: 'tours.id', to: 'tour_prices.tour_id' } },
    departures: { relation: BaseModel.HasManyRelation, modelClass: Departure, join: { from: 'tours.id', to: 'departures.tour_id' } },
  });
}

export class Departure extends BaseModel {
  static override tableName = 'departures';
  id!: string;
  tourId!: string;
  startsAt!: Date;
  timezone!: string;
  capacity!: number;
  seatsHeld!: number;
  seatsSold!: number;
  status!: 'scheduled' | 'guaranteed' | 'cancelled' | 'departed' | 'completed';
  guaranteeDeadline!: Date | null;
  priceOverrides!: Partial<Record<PaxType, number>>;
  guideName!: string | null;
  vehicle!: string | null;
  tour?: Tour;

  get seatsAvailable(): number {
    return this.capacity - this.seatsHeld - this.seatsSold;
  }

  static override relationMappings = () => ({
    tour: { relation: BaseModel.BelongsToOneRelation, modelClass: Tour, join: { from: 'departures.tour_id', to: 'tours.id' } },
  });
}
