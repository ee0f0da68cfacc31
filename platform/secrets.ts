/**
 * Signing keys, each with an id so it can rotate: the newest signs, the previous ones still
 * verify what they signed (tokens in flight, links in emails already sent). Two independent
 * keys: JWT_SECRET (access and refresh tokens) and EMAIL_LINK_SECRET (unsubscribe, open and
 * click links). A key's id is a short fingerprint of the key (sha256, 8 characters), so
 * nothing else has to be configured and a token names its key without revealing it.
 *
 * Rotate: put the new key in JWT_SECRET / EMAIL_LINK_SECRET and the old one first in
 * JWT_PREVIOUS_SECRETS / EMAIL_LINK_PREVIOUS_SECRETS (comma-separated); drop it from there once
 * what it signed has expired (refresh tokens: JWT_REFRESH_TTL_SECONDS; links: keep it as long as
 * old emails should still unsubscribe).
 *
 * Production must be given the keys; development generates each once and keeps it in the data
 * folder, so tokens survive a restart and no one commits a key.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { config } from './config';

export interface SigningKey {
  /** Fingerprint of the secret, written into what it signs (JWT `kid`, link `k`). */
  id: string;
  secret: string;
}

export interface Keyring {
  /** Signs. */
  current: SigningKey;
  /** Verify: the current key first, then the previous ones. */
  accepted: SigningKey[];
}

export interface Secrets {
  jwtSecret: string;
}

export const MIN_SECRET_LENGTH = 32;

export function keyId(secret: string): string {
  return crypto.createHash('sha256').update(`spirit-tours key id\n${secret}`).digest('base64url').slice(0, 8);
}

export function signingKey(secret: string): SigningKey {
  return { id: keyId(secret), secret };
}

function previous(name: string): SigningKey[] {
  return (process.env[name] || '').split(',').map((s) => s.trim()).filter(Boolean).map((secret) => {
    if (secret.length < MIN_SECRET_LENGTH) throw new Error(`every key in ${name} must be at least ${MIN_SECRET_LENGTH} characters long`);
    return signingKey(secret);
  });
}

/** A development key kept in `<dataDir>/<file>` ('wx': two processes starting at once agree on one key). */
function developmentSecret(file: string, field: string): string {
  const full = path.join(config.dataDir, file);
  const read = (): string | undefined => (JSON.parse(fs.readFileSync(full, 'utf8')) as Record<string, string>)[field];
  try {
    const found = read();
    if (found) return found;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const generated = crypto.randomBytes(48).toString('base64url');
  fs.mkdirSync(config.dataDir, { recursive: true });
  try {
    fs.writeFileSync(full, JSON.stringify({ [field]: generated }, null, 2), { mode: 0o600, flag: 'wx' });
    return generated;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return read()!;
  }
}

function configuredSecret(name: string, file: string, field: string): string {
  const fromEnv = process.env[name];
  if (fromEnv) {
    if (fromEnv.length < MIN_SECRET_LENGTH) throw new Error(`${name} must be at least ${MIN_SECRET_LENGTH} characters long`);
    return fromEnv;
  }
  if (config.isProduction) {
    throw new Error(`${name} is required when NODE_ENV=production (at least ${MIN_SECRET_LENGTH} random characters, e.g. \`openssl rand -hex 32\`)`);
  }
  return developmentSecret(file, field);
}

const rings = new Map<string, Keyring>();

function keyring(name: string, file: string, field: string): Keyring {
  const cacheKey = `${name}\n${process.env[name] ?? ''}\n${process.env[name.replace(/_SECRET$/, '_PREVIOUS_SECRETS')] ?? ''}`;
  const cached = rings.get(cacheKey);
  if (cached) return cached;
  const current = signingKey(configuredSecret(name, file, field));
  const ring = { current, accepted: [current, ...previous(name.replace(/_SECRET$/, '_PREVIOUS_SECRETS')).filter((k) => k.id !== current.id)] };
  rings.set(cacheKey, ring);
  return ring;
}

/** JWT_SECRET (+ JWT_PREVIOUS_SECRETS). */
export function jwtKeys(): Keyring {
  return keyring('JWT_SECRET', 'secrets.json', 'jwtSecret');
}

/** EMAIL_LINK_SECRET (+ EMAIL_LINK_PREVIOUS_SECRETS): independent of the JWT key. */
export function emailLinkKeys(): Keyring {
  return keyring('EMAIL_LINK_SECRET', 'email-link-secret.json', 'emailLinkSecret');
}

/** The current JWT key (kept for callers that sign with one key). */
export function loadSecrets(): Secrets {
  return { jwtSecret: jwtKeys().current.secret };
}

/** The key that signs email links now (unsubscribe, open pixel, click redirect). */
export function emailLinkSecret(): string {
  return emailLinkKeys().current.secret;
}

/**
 * The keys that verify email links: EMAIL_LINK_SECRET's ring, then the key links were signed
 * with before link keys had ids (derived from the JWT key), so emails already sent keep
 * working while the JWT key stays the same. Such a link carries no date: it only unsubscribes.
 */
export function emailLinkVerifyKeys(): SigningKey[] {
  const legacy = crypto.createHmac('sha256', jwtKeys().current.secret).update('email-links').digest('base64url');
  return [...emailLinkKeys().accepted, { id: 'legacy', secret: legacy }];
}
