/**
 * Imported first by test/setup.ts, before any platform module reads its settings: every run
 * gets its own data folder, task-queue prefix and quiet logs, so `npm test` can run beside
 * `npm start` (or another `npm test`) on the same machine.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createWebhookKeys } from './fake-sendgrid';

export const runId = crypto.randomBytes(4).toString('hex');
export const testDataDir = fs.mkdtempSync(path.join(os.tmpdir(), `spirit-test-${runId}-`));
fs.chmodSync(testDataDir, 0o755); // the embedded PostgreSQL runs as another user when we are root

process.env.NODE_ENV = 'test';
process.env.SPIRIT_DATA_DIR = testDataDir;
process.env.TEMPORAL_TASK_QUEUE_PREFIX = `test-${runId}-`;
process.env.LOG_LEVEL = process.env.TEST_LOG_LEVEL || 'silent';
process.env.BCRYPT_ROUNDS = '4';
// Every answer a test sees is checked against its route's declared response schema (api/http/routes.ts).
process.env.API_CHECK_RESPONSES = '1';
// A payment answers 202 "processing" after 6 s (5 s in production: a loaded CI machine must not see it by chance); a test sees it with a slow supplier.
process.env.PAYMENT_ANSWER_WITHIN_MS = '6000';
// The oversell test holds 300 seats at once as one customer; test/api/rate-limits.test.ts turns the limit on.
process.env.RATE_LIMIT_HOLDS_PER_MINUTE = '0';
// Every test books as the same demo customer, many with promo codes; the rate-limit tests turn it on.
process.env.RATE_LIMIT_PROMO_TRIES_PER_HOUR = '0';
// Every test pays as the same demo customer, from 127.0.0.1, with the same few test cards, many times
// an hour: FraudGuardian's velocity signals (attempts and declines per customer, card and address)
// would trip everywhere. Suite-wide they are out of reach; test/agents/fraud-guardian.test.ts sets
// them per test in its own branch's fraud_rules row (read at each check, as in production).
process.env.FRAUD_RULES = JSON.stringify({ velocity: { maxPerCustomer: 1_000_000, maxPerCard: 1_000_000, maxPerIp: 1_000_000, declinesAllowed: 1_000_000 } });
process.env.STRIPE_WEBHOOK_SECRET = 'whsec_test_spirit_tours_secret';

/** SendGrid's signed event webhook: we hold the private key, the API verifies with the public one. */
export const sendgridWebhookKeys = createWebhookKeys();
process.env.SENDGRID_WEBHOOK_PUBLIC_KEY = sendgridWebhookKeys.publicKeyBase64;
// The suite speaks from loopback: never blocked by CyberSentinel (its own tests use other addresses through X-Forwarded-For).
process.env.SECURITY_TRUSTED_ADDRESSES = '127.0.0.1,::1';
