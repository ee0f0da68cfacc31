/**
 * The payment providers this process can use, from its environment: the sandbox outside
 * production (with NODE_ENV=production only when PAYMENT_SANDBOX=1: its test cards and hosted
 * page confirm a booking without money moving); Stripe when STRIPE_SECRET_KEY is set; PayPal
 * when PAYPAL_CLIENT_ID and PAYPAL_CLIENT_SECRET are set.
 * An unconfigured provider is undefined, so a booking asking for it fails clearly instead of
 * reaching a half-configured client.
 *
 *   STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET, STRIPE_API_BASE (another host, e.g. stripe-mock)
 *   PAYPAL_CLIENT_ID, PAYPAL_CLIENT_SECRET, PAYPAL_ENVIRONMENT (sandbox | production),
 *   PAYPAL_API_BASE (another host, e.g. a local test server), PAYPAL_WEBHOOK_ID
 *
 * The caller passes the environment (process.env at startup), so tests can pass their own.
 */
import type { Knex } from 'knex';
import { createPayPalProvider, type PayPalProviderOptions } from './paypal';
import { createSandboxProvider, sandboxCardCountry } from './sandbox';
import { createStripeProvider } from './stripe';
import type { PaymentProvider, ProviderName } from './types';

export type PaymentEnv = Record<string, string | undefined>;

export type PaymentProviders = Record<ProviderName, PaymentProvider | undefined>;

function paypalEnvironment(env: PaymentEnv): 'sandbox' | 'production' {
  const value = (env.PAYPAL_ENVIRONMENT || 'sandbox').toLowerCase();
  if (value !== 'sandbox' && value !== 'production') throw new Error(`PAYPAL_ENVIRONMENT must be sandbox or production, got "${env.PAYPAL_ENVIRONMENT}"`);
  return value;
}

/** PayPal's client settings from the environment, or undefined when PayPal is not configured (also for createPayPalApi, for webhooks). */
export function paypalOptionsFromEnv(env: PaymentEnv): PayPalProviderOptions | undefined {
  if (!env.PAYPAL_CLIENT_ID || !env.PAYPAL_CLIENT_SECRET) return undefined;
  return {
    clientId: env.PAYPAL_CLIENT_ID,
    clientSecret: env.PAYPAL_CLIENT_SECRET,
    environment: paypalEnvironment(env),
    baseUrl: env.PAYPAL_API_BASE || undefined,
  };
}

/** The sandbox takes no money: on in development and tests, off in production unless PAYMENT_SANDBOX=1. */
export function sandboxEnabled(env: PaymentEnv): boolean {
  if (env.PAYMENT_SANDBOX !== undefined && env.PAYMENT_SANDBOX !== '' && env.PAYMENT_SANDBOX !== '0' && env.PAYMENT_SANDBOX !== '1') {
    throw new Error(`PAYMENT_SANDBOX must be 0 or 1, got "${env.PAYMENT_SANDBOX}"`);
  }
  if (env.PAYMENT_SANDBOX === '1') return true;
  if (env.PAYMENT_SANDBOX === '0') return false;
  return env.NODE_ENV !== 'production';
}

/** The providers a payment may name here (the API refuses the others with 422 before asking the workflow). */
export function enabledProviders(env: PaymentEnv): ProviderName[] {
  const names: ProviderName[] = [];
  if (sandboxEnabled(env)) names.push('sandbox');
  if (env.STRIPE_SECRET_KEY) names.push('stripe');
  if (paypalOptionsFromEnv(env)) names.push('paypal');
  return names;
}

export function createPaymentProviders({ knex, publicUrl, env }: { knex: Knex; publicUrl: string; env: PaymentEnv }): PaymentProviders {
  const paypal = paypalOptionsFromEnv(env);
  return {
    sandbox: sandboxEnabled(env) ? createSandboxProvider({ knex, publicUrl }) : undefined,
    stripe: env.STRIPE_SECRET_KEY
      ? createStripeProvider({
        secretKey: env.STRIPE_SECRET_KEY,
        apiBase: env.STRIPE_API_BASE || undefined,
        webhookSecret: env.STRIPE_WEBHOOK_SECRET || undefined,
        publicUrl,
      })
      : undefined,
    paypal: paypal ? createPayPalProvider(paypal) : undefined,
  };
}

/**
 * The issuing country of the card behind a payment method, when the method itself says so: the
 * sandbox's `pm_card_<cc>` test cards. Stripe and PayPal tell it only after authorization (and our
 * adapters do not read it), so before authorization it is unknown (null) for them.
 */
export function cardCountryOf(provider: ProviderName, paymentMethod: string): string | null {
  return provider === 'sandbox' ? sandboxCardCountry(paymentMethod) : null;
}

/** One line per provider for the startup log, e.g. "stripe: not configured (set STRIPE_SECRET_KEY)". */
export function describeProviders(env: PaymentEnv): string[] {
  const lines = [sandboxEnabled(env)
    ? `sandbox: enabled${env.NODE_ENV === 'production' ? ' IN PRODUCTION (PAYMENT_SANDBOX=1): bookings can be confirmed without money' : ''} (test cards pm_card_visa, pm_card_chargeDeclined, ...)`
    : `sandbox: disabled${env.NODE_ENV === 'production' ? ' in production (PAYMENT_SANDBOX=1 enables it)' : ' (PAYMENT_SANDBOX=0)'}`];
  if (env.STRIPE_SECRET_KEY) {
    const mode = env.STRIPE_SECRET_KEY.startsWith('sk_live_') ? 'live' : 'test';
    const host = env.STRIPE_API_BASE ? ` via ${env.STRIPE_API_BASE}` : '';
    const webhooks = env.STRIPE_WEBHOOK_SECRET ? 'webhooks verified' : 'webhooks rejected (set STRIPE_WEBHOOK_SECRET)';
    lines.push(`stripe: configured, ${mode} mode${host}, ${webhooks}`);
  } else {
    lines.push('stripe: not configured (set STRIPE_SECRET_KEY)');
  }
  if (env.PAYPAL_CLIENT_ID && env.PAYPAL_CLIENT_SECRET) {
    const where = env.PAYPAL_API_BASE ? `via ${env.PAYPAL_API_BASE}` : `${env.PAYPAL_ENVIRONMENT || 'sandbox'} environment`;
    const webhooks = env.PAYPAL_WEBHOOK_ID ? 'webhooks verified' : 'webhooks rejected (set PAYPAL_WEBHOOK_ID)';
    lines.push(`paypal: configured, ${where}, ${webhooks}`);
  } else {
    lines.push(`paypal: not configured (set ${[!env.PAYPAL_CLIENT_ID && 'PAYPAL_CLIENT_ID', !env.PAYPAL_CLIENT_SECRET && 'PAYPAL_CLIENT_SECRET'].filter(Boolean).join(' and ')})`);
  }
  return lines;
}
