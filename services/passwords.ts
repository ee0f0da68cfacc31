/**
 * Password hashing and the password policy.
 *
 * Hashing: bcrypt through @node-rs/bcrypt, whose hash and verify run on libuv's thread pool, so
 * a login never blocks the event loop (bcryptjs' async API still computes on the loop, in
 * chunks; Node's crypto.scrypt would also be off the loop, but every stored hash is bcrypt and
 * would need a second format and a rehash path). The cost is BCRYPT_ROUNDS; the dummy hash
 * compared for unknown emails has the same cost, so a wrong email and a wrong password take the
 * same time. Existing $2a$/$2b$ hashes (bcryptjs) verify unchanged.
 *
 * Policy (NIST SP 800-63B style: length and a breached list, no composition rules): at least
 * PASSWORD_MIN_LENGTH characters, at most 72 bytes (bcrypt ignores the rest), not a common
 * password (services/common-passwords.ts), not the email or its local part.
 */
import crypto from 'node:crypto';
import { hash, verify } from '@node-rs/bcrypt';
import { config } from '../platform/config';
import { COMMON_PASSWORDS } from './common-passwords';
import { Refused } from '../domain/refusals';

export function hashPassword(password: string, rounds = config.bcryptRounds): Promise<string> {
  return hash(password, rounds);
}

let dummy: { rounds: number; hash: Promise<string> } | undefined;
/** A real hash of a random password at the configured cost, made once per process (off the loop). */
function dummyHash(): Promise<string> {
  if (dummy?.rounds !== config.bcryptRounds) dummy = { rounds: config.bcryptRounds, hash: hashPassword(crypto.randomBytes(16).toString('hex')) };
  return dummy.hash;
}

/** Compares against the stored hash, or against the dummy when there is none, so both cost the same. */
export async function verifyPassword(password: string, storedHash: string | undefined): Promise<boolean> {
  const target = storedHash ?? await dummyHash();
  try {
    const ok = await verify(password, target);
    return ok && storedHash !== undefined;
  } catch {
    return false; // not a bcrypt hash (a disabled account's placeholder)
  }
}

let common: Set<string> | undefined;
export function isCommonPassword(password: string): boolean {
  common ??= new Set(COMMON_PASSWORDS.split('\n'));
  return common.has(password.toLowerCase());
}

export type PasswordRule = 'min_length' | 'max_length' | 'common_password' | 'contains_email';

/** The first rule the password breaks, or undefined when it is acceptable. */
export function passwordRuleBroken(password: string, email?: string): { rule: PasswordRule; message: string } | undefined {
  const min = config.passwords.minLength;
  if ([...password].length < min) return { rule: 'min_length', message: `must be at least ${min} characters long` };
  if (Buffer.byteLength(password, 'utf8') > 72) return { rule: 'max_length', message: 'must be at most 72 bytes long (bcrypt ignores the rest)' };
  if (isCommonPassword(password)) return { rule: 'common_password', message: 'is one of the most common passwords (found in breached-password lists); choose another' };
  if (email) {
    const lower = password.toLowerCase();
    const address = email.toLowerCase();
    const local = address.split('@')[0];
    if (lower.includes(address) || (local.length >= 4 && lower.includes(local))) return { rule: 'contains_email', message: 'must not contain the email address' };
  }
  return undefined;
}

/** Throws the 422 that names the rule, for the body field `param`. */
export function assertPasswordPolicy(password: string, email: string | undefined, param = 'password'): void {
  const broken = passwordRuleBroken(password, email);
  if (broken) {
    throw new Refused('unprocessable', 'password_rejected', `The password ${broken.message}.`, { param, rule: broken.rule });
  }
}
