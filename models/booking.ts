import { BaseModel } from './base';
import { Customer } from './customer';
import { Partner } from './partner';
import { Departure, PaxType } from './tour';

export const BOOKING_STATUSES = [
  'held', 'awaiting_payment', 'confirmed', 'paid_in_full', 'in_progress', 'completed',
  'expired', 'failed', 'cancelled', 'no_show',
] as const;
export type BookingStatus = (typeof BOOKING_STATUSES)[number];

export class Passenger extends BaseModel {
  static override tableName = 'passengers';
  id!: string;
  bookingId!: string;
  paxType!: PaxType;
  firstName!: string;
  lastName!: string;
  birthDate!: string | null;
}

export class BookingItem extends BaseModel {
  static override tableName = 'booking_items';
  id!: string;
  bookingId!: string;
  position!: number;
  kind!: 'tour' | 'hotel' | 'flight' | 'discount' | 'fee';
  description!: string;
  quantity!: number;
  unitMinor!: number;
  totalMinor!: number;
  supplierRef!: string | null;
  status!: 'pending' | 'confirmed' | 'cancelled' | 'failed';
}

export class BookingEvent extends BaseModel {
  static override tableName = 'booking_events';
  id!: number;
  bookingId!: string;
  type!: string;
  actor!: string;
  data!: Record<string, unknown>;
  dedupeKey!: string | null;
  occurredAt!: Date;
}

export class Payment extends BaseModel {
  static override tableName = 'payments';
  id!: string;
  bookingId!: string;
  provider!: 'sandbox' | 'stripe' | 'paypal' | 'bank_transfer' | 'cash';
  providerRef!: string | null;
  purpose!: 'deposit' | 'balance' | 'full';
  status!: 'pending' | 'requires_action' | 'authorized' | 'captured' | 'failed' | 'voided' | 'refunded' | 'partially_refunded';
  amountMinor!: number;
  currency!: string;
  idempotencyKey!: string;
  failureReason!: string | null;
}

export class Refund extends BaseModel {
  static override tableName = 'refunds';
  id!: string;
  paymentId!: string;
  bookingId!: string;
  amountMinor!: number;
  currency!: string;
  status!: 'pending' | 'awaiting_approval' | 'succeeded' | 'failed' | 'rejected';
  reason!: string;
  providerRef!: string | null;
  idempotencyKey!: string;
}

export class Booking extends BaseModel {
  static override tableName = 'bookings';
  id!: string;
  reference!: string;
  departureId!: string;
  branchId!: string;
  customerId!: string | null;
  partnerId!: string | null;
  createdByUserId!: string | null;
  status!: BookingStatus;
  paxCount!: number;
  currency!: string;
  totalMinor!: number;
  netMinor!: number;
  commissionMinor!: number;
  depositMinor!: number;
  amountPaidMinor!: number;
  amountRefundedMinor!: number;
  holdExpiresAt!: Date | null;
  balanceDueOn!: string | null;
  contact!: { name: string; email: string; phone?: string };
  promoCode!: string | null;
  language!: 'es' | 'en';
  failureReason!: string | null;
  createdAt!: Date;
  updatedAt!: Date;
  passengers?: Passenger[];
  items?: BookingItem[];
  events?: BookingEvent[];
  payments?: Payment[];

  static override relationMappings = () => ({
    departure: { relation: BaseModel.BelongsToOneRelation, modelClass: Departure, join: { from: 'bookings.departure_id', to: 'departures.id' } },
    customer: { relation: BaseModel.BelongsToOneRelation, modelClass: Customer, join: { from: 'bookings.customer_id', to: 'customers.id' } },
    partner: { relation: BaseModel.BelongsToOneRelation, modelClass: Partner, join: { from: 'bookings.partner_id', to: 'partners.id' } },
    passengers: { relation: BaseModel.HasManyRelation, modelClass: Passenger, join: { from: 'bookings.id', to: 'passengers.booking_id' } },
    items: { relation: BaseModel.HasManyRelation, modelClass: BookingItem, join: { from: 'bookings.id', to: 'booking_items.booking_id' } },
    events: { relation: BaseModel.HasManyRelation, modelClass: BookingEvent, join: { from: 'bookings.id', to: 'booking_events.booking_id' } },
    payments: { relation: BaseModel.HasManyRelation, modelClass: Payment, join: { from: 'bookings.id', to: 'payments.booking_id' } },
    refunds: { relation: BaseModel.HasManyRelation, modelClass: Refund, join: { from: 'bookings.id', to: 'refunds.booking_id' } },
  });
}
