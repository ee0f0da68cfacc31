/** Business time and failure reading for the booking workflow (deterministic: workflow clock only). */
import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';

/** Converts between the booking's calendar and workflow time. */
export class BusinessClock {
  private readonly anchor = Date.now();
  constructor(private readonly scale: number) {}
  now(): Date {
    return new Date(this.anchor + (Date.now() - this.anchor) / this.scale);
  }
  msUntil(at: string | Date): number {
    return Math.max(0, Math.ceil((+new Date(at) - +this.now()) * this.scale));
  }
  /** Workflow milliseconds that `businessMs` of the booking's calendar take. */
  scaled(businessMs: number): number {
    return Math.ceil(businessMs * this.scale);
  }
}

export function failureType(err: unknown): string | undefined {
  if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure) return err.cause.type ?? undefined;
  return undefined;
}

export function failureMessage(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return err.cause.message;
  return err instanceof Error ? err.message : String(err);
}
