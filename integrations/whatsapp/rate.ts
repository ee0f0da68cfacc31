/**
 * The per-business-number send rate (Meta: about 80 messages per second per number by default;
 * WHATSAPP_MESSAGES_PER_SECOND): one limiter per business number in this process, shared by
 * everything that sends through a channel built by createWhatsAppChannel (conversation replies,
 * booking messages, notices), so together they never exceed it.
 *
 * Each send takes the next free slot (slots are 1/rate seconds apart) and waits for it. When the
 * provider says we were throttled anyway (Cloud API 130429), the whole number pauses for what it
 * asked (or a second), so the other senders in the process back off too. A send whose slot is
 * further away than `maxWaitMs` is not made: it fails at once as `throttled` with how long to
 * wait — nothing was handed over, so its caller gives the claim back and tries later, rather
 * than holding a claim while it waits.
 */
import { WhatsAppSendError, type ChannelHealth, type OutboundWhatsApp, type SendResult, type WhatsAppChannel } from './types';

export interface RateOptions {
  messagesPerSecond: number;
  /** The longest a send waits for its slot before it is answered `throttled` (default 2 s). */
  maxWaitMs?: number;
  /** The pause after the provider throttled us and said nothing of how long (default 1 s). */
  throttlePauseMs?: number;
}

/** A process-wide slot scheduler for one business number. */
export class SendRate {
  private next = 0;
  constructor(private messagesPerSecond: number) {}

  setRate(messagesPerSecond: number): void {
    this.messagesPerSecond = messagesPerSecond;
  }

  /** Reserves the next slot, or says how long until one comes when it is beyond `maxWaitMs` (nothing reserved then). */
  reserve(now: number, maxWaitMs: number): { waitMs: number } | { tooLongMs: number } {
    const gap = 1000 / Math.max(0.001, this.messagesPerSecond);
    const slot = Math.max(now, this.next);
    if (slot - now > maxWaitMs) return { tooLongMs: slot - now };
    this.next = slot + gap;
    return { waitMs: slot - now };
  }

  /** The provider throttled us: nobody in this process sends from this number for `ms`. */
  pause(now: number, ms: number): void {
    this.next = Math.max(this.next, now + ms);
  }
}

const rates = new Map<string, SendRate>();

/** The limiter of a business number in this process (created on first use). */
export function sendRateFor(businessId: string, messagesPerSecond: number): SendRate {
  let rate = rates.get(businessId);
  if (!rate) rates.set(businessId, (rate = new SendRate(messagesPerSecond)));
  else rate.setRate(messagesPerSecond);
  return rate;
}

export class RateLimitedChannel implements WhatsAppChannel {
  readonly kind: WhatsAppChannel['kind'];
  readonly businessId: string;
  private readonly rate: SendRate;

  constructor(private readonly inner: WhatsAppChannel, private readonly options: RateOptions, rate?: SendRate) {
    this.kind = inner.kind;
    this.businessId = inner.businessId;
    this.rate = rate ?? sendRateFor(inner.businessId, options.messagesPerSecond);
  }

  async send(to: string, message: OutboundWhatsApp, key: string): Promise<SendResult> {
    const slot = this.rate.reserve(Date.now(), this.options.maxWaitMs ?? 2000);
    if ('tooLongMs' in slot) {
      throw new WhatsAppSendError('throttled', `over ${this.options.messagesPerSecond} messages per second from ${this.businessId}: not sent`, { retryAfterMs: Math.ceil(slot.tooLongMs) });
    }
    if (slot.waitMs > 0) await new Promise((resolve) => setTimeout(resolve, slot.waitMs));
    try {
      return await this.inner.send(to, message, key);
    } catch (err) {
      if (err instanceof WhatsAppSendError && err.kind === 'throttled') this.rate.pause(Date.now(), err.details.retryAfterMs ?? this.options.throttlePauseMs ?? 1000);
      throw err;
    }
  }

  health(): ChannelHealth {
    return this.inner.health();
  }

  async close(): Promise<void> {
    await this.inner.close?.();
  }
}

/** The channel, sending at most `messagesPerSecond` from its business number together with every other limited channel of that number in this process. */
export function rateLimited(channel: WhatsAppChannel, options: RateOptions): WhatsAppChannel {
  return channel instanceof RateLimitedChannel ? channel : new RateLimitedChannel(channel, options);
}
