/**
 * Signing keys. Production must be given them (JWT_SECRET); development generates them once and
 * keeps them in the data folder, so tokens survive a restart and no one commits a key.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { config } from './config';

export interface Secrets {
  jwtSecret: string;
}

let cached: Secrets | undefined;

export function loadSecrets(): Secrets {
  if (cached) return cached;
  const fromEnv = process.env.JWT_SECRET;
  if (fromEnv) {
    if (fromEnv.length < 32) throw new Error('JWT_SECRET must be at least 32 characters long');
    return (cached = { jwtSecret: fromEnv });
  }
  if (config.isProduction) {
    throw new Error(
      'JWT_SECRET is required when NODE_ENV=production (at least 32 random characters, e.g. `openssl rand -hex 32`)',
    );
  }
  const file = path.join(config.dataDir, 'secrets.json');
  try {
    cached = JSON.parse(fs.readFileSync(file, 'utf8')) as Secrets;
    if (cached.jwtSecret) return cached;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const generated: Secrets = { jwtSecret: crypto.randomBytes(48).toString('base64url') };
  fs.mkdirSync(config.dataDir, { recursive: true });
  try {
    // 'wx': two processes starting at once must agree on one key, so the loser reads the winner's.
    fs.writeFileSync(file, JSON.stringify(generated, null, 2), { mode: 0o600, flag: 'wx' });
    cached = generated;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    cached = JSON.parse(fs.readFileSync(file, 'utf8')) as Secrets;
  }
  return cached;
}

/** The key that signs email links (unsubscribe, open pixel, click redirect): derived, so it is never the JWT key itself. */
export function emailLinkSecret(): string {
  return crypto.createHmac('sha256', loadSecrets().jwtSecret).update('email-links').digest('base64url');
}
