/**
 * Our own tracking and unsubscribe links, for the providers that do not track for us (SMTP, the
 * development outbox). Every link is signed with HMAC-SHA256 (truncated to 128 bits, base64url)
 * over what it means, so a link cannot be pointed at another send or turned into an open
 * redirect; verification compares in constant time.
 *
 *   open pixel   {publicUrl}/e/o/{sendId}?s={sig}
 *   click        {publicUrl}/e/c/{sendId}?u={target}&s={sig}
 *   unsubscribe  {publicUrl}/u/{token}                 (token: signUnsubscribeToken)
 *   payment      {publicUrl}/pay/booking/{token}       (token: signPaymentToken; a booking's payment page)
 *
 * Keys rotate (platform/secrets.ts): a token names its key by id and the time it was made,
 * `{base64url("~keyId~time~subject")}.{sig}`, so a verifier holding the current and previous
 * keys picks the right one and can tell an old link from a new one (unsubscribe links expire
 * for anything but unsubscribing). Open and click URLs stay short and are checked against each
 * accepted key (two or three HMACs). Tokens from before key ids (`{base64url(subject)}.{sig}`;
 * a subject never starts with "~") still verify, undated.
 *
 * The routes that serve them are mounted by the API; `verifyLink` reads a request URL back.
 */
import crypto from 'node:crypto';

type LinkKind = 'open' | 'click' | 'unsubscribe' | 'resubscribe' | 'pay';

const PURPOSE: Record<LinkKind, string> = { open: 'o', click: 'c', unsubscribe: 'u', resubscribe: 'r', pay: 'p' };
const SEND_ID = /^[A-Za-z0-9._-]{1,100}$/;

/** A key that verifies: an id and its secret. A bare string is one key (its id computed as platform/secrets.ts does). */
export type LinkKeys = string | ReadonlyArray<{ id: string; secret: string }>;

function keyIdOf(secret: string): string {
  return crypto.createHash('sha256').update(`spirit-tours key id\n${secret}`).digest('base64url').slice(0, 8);
}

function keyList(keys: LinkKeys): ReadonlyArray<{ id: string; secret: string }> {
  return typeof keys === 'string' ? [{ id: keyIdOf(keys), secret: keys }] : keys;
}

function base(publicUrl: string): string {
  return publicUrl.replace(/\/+$/, '');
}

function sign(secret: string, kind: LinkKind, ...parts: string[]): string {
  if (!secret) throw new Error('a link secret is required to sign tracking links');
  return crypto.createHmac('sha256', secret).update([PURPOSE[kind], ...parts].join('\n'), 'utf8').digest().subarray(0, 16).toString('base64url');
}

function sameSignature(given: string | null | undefined, expected: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

function anyKeySigned(keys: LinkKeys, given: string | null | undefined, kind: LinkKind, ...parts: string[]): boolean {
  return keyList(keys).some((k) => sameSignature(given, sign(k.secret, kind, ...parts)));
}

function checkSendId(sendId: string): void {
  if (!SEND_ID.test(sendId)) throw new Error(`sendId must match ${SEND_ID}, got "${sendId}"`);
}

export function openPixelUrl(publicUrl: string, sendId: string, secret: string): string {
  checkSendId(sendId);
  return `${base(publicUrl)}/e/o/${sendId}?s=${sign(secret, 'open', sendId)}`;
}

export function clickUrl(publicUrl: string, sendId: string, targetUrl: string, secret: string): string {
  checkSendId(sendId);
  if (!/^https?:\/\//i.test(targetUrl)) throw new Error(`only http(s) links are tracked, got "${targetUrl}"`);
  return `${base(publicUrl)}/e/c/${sendId}?u=${encodeURIComponent(targetUrl)}&s=${sign(secret, 'click', sendId, targetUrl)}`;
}

export function unsubscribeUrl(publicUrl: string, token: string): string {
  return `${base(publicUrl)}/u/${encodeURIComponent(token)}`;
}

function signToken(kind: LinkKind, subject: string, secret: string, at: Date): string {
  if (subject.startsWith('~')) throw new Error('a link subject may not start with "~"');
  const time = Math.floor(at.getTime() / 1000).toString(36);
  const kid = keyIdOf(secret);
  return `${Buffer.from(`~${kid}~${time}~${subject}`, 'utf8').toString('base64url')}.${sign(secret, kind, kid, time, subject)}`;
}

export interface ReadToken {
  subject: string;
  /** When it was made (unsubscribe) or when it expires (resubscribe); null for a token from before key ids. */
  time: Date | null;
  keyId: string;
}

function readToken(kind: LinkKind, token: string, keys: LinkKeys): ReadToken | null {
  const parts = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(token);
  if (!parts) return null;
  const payload = Buffer.from(parts[1], 'base64url').toString('utf8');
  const dated = /^~([A-Za-z0-9_-]{8})~([0-9a-z]{1,10})~(.*)$/s.exec(payload);
  if (dated) {
    const [, kid, time, subject] = dated;
    const key = keyList(keys).find((k) => k.id === kid);
    if (!key || !sameSignature(parts[2], sign(key.secret, kind, kid, time, subject))) return null;
    return { subject, time: new Date(parseInt(time, 36) * 1000), keyId: key.id };
  }
  if (kind !== 'unsubscribe' || payload.startsWith('~')) return null;
  const key = keyList(keys).find((k) => sameSignature(parts[2], sign(k.secret, 'unsubscribe', payload)));
  return key ? { subject: payload, time: null, keyId: key.id } : null;
}

/** A token naming whom to unsubscribe (a contact id, or `contactId:listId`), signed, with its key id and the time it was made. */
export function signUnsubscribeToken(subject: string, secret: string, issuedAt: Date = new Date()): string {
  return signToken('unsubscribe', subject, secret, issuedAt);
}

/** A genuine unsubscribe token's subject, key id and issue time (null time: made before tokens were dated), or null. */
export function readUnsubscribeToken(token: string, keys: LinkKeys): ReadToken | null {
  return readToken('unsubscribe', token, keys);
}

/** The subject of a genuine unsubscribe token, or null. */
export function verifyUnsubscribeToken(token: string, keys: LinkKeys): string | null {
  return readToken('unsubscribe', token, keys)?.subject ?? null;
}

/** The link of a re-subscription confirmation email: names the contact, valid until `expiresAt`. */
export function signResubscribeToken(subject: string, secret: string, expiresAt: Date): string {
  return signToken('resubscribe', subject, secret, expiresAt);
}

/** The contact a genuine, unexpired confirmation token names, or null. */
export function verifyResubscribeToken(token: string, keys: LinkKeys, now: Date = new Date()): string | null {
  const read = readToken('resubscribe', token, keys);
  return read && read.time && read.time > now ? read.subject : null;
}

/** A booking's payment link (sent in chat): names the booking, valid until `expiresAt`. */
export function signPaymentToken(bookingId: string, secret: string, expiresAt: Date): string {
  return signToken('pay', bookingId, secret, expiresAt);
}

/** The booking a genuine, unexpired payment token names, or null. */
export function verifyPaymentToken(token: string, keys: LinkKeys, now: Date = new Date()): string | null {
  const read = readToken('pay', token, keys);
  return read && read.time && read.time > now ? read.subject : null;
}

export function paymentUrl(publicUrl: string, token: string): string {
  return `${base(publicUrl)}/pay/booking/${encodeURIComponent(token)}`;
}

export type VerifiedLink =
  | { kind: 'open'; sendId: string }
  | { kind: 'click'; sendId: string; targetUrl: string };

/**
 * Reads an open or click link back from the URL a request came in on (absolute, or a path with
 * its query string; a path prefix before /e/ is allowed). Null when it is not one of ours or its
 * signature does not match: the caller answers 404 and must not redirect.
 */
export function verifyLink(requestUrl: string | URL, keys: LinkKeys): VerifiedLink | null {
  let url: URL;
  try {
    url = typeof requestUrl === 'string' ? new URL(requestUrl, 'http://link.invalid') : requestUrl;
  } catch {
    return null;
  }
  const match = /\/e\/([oc])\/([A-Za-z0-9._-]{1,100})$/.exec(url.pathname);
  if (!match) return null;
  const sendId = match[2];
  const signature = url.searchParams.get('s');
  if (match[1] === 'o') return anyKeySigned(keys, signature, 'open', sendId) ? { kind: 'open', sendId } : null;
  const targetUrl = url.searchParams.get('u');
  if (!targetUrl || !/^https?:\/\//i.test(targetUrl)) return null;
  return anyKeySigned(keys, signature, 'click', sendId, targetUrl) ? { kind: 'click', sendId, targetUrl } : null;
}

const NAMED_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decodeEntities(value: string): string {
  return value.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (entity, body: string) => {
    if (body[0] === '#') {
      const code = body[1] === 'x' || body[1] === 'X' ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
      return Number.isFinite(code) && code <= 0x10ffff ? String.fromCodePoint(code) : entity;
    }
    return NAMED_ENTITIES[body.toLowerCase()] ?? entity;
  });
}

function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export interface RewriteOptions {
  publicUrl: string;
  sendId: string;
  secret: string;
  /** This recipient's unsubscribe URL: never wrapped (a click on it must reach the unsubscribe page as is). */
  unsubscribeUrl?: string;
  /** Append the open pixel (default true). */
  openPixel?: boolean;
}

const ANCHOR = /<a\b([^>]*?)\shref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))([^>]*)>/gi;

/**
 * Rewrites every http(s) `<a href>` to a signed click URL and appends the open pixel. Left alone:
 * mailto:/tel: and other schemes, #anchors, relative links, the unsubscribe link (and anything
 * under {publicUrl}/u/), links still holding a `{{token}}`, our own tracking links, and
 * anchors marked clicktracking="off" (SendGrid's convention, so one template serves both).
 */
export function rewriteLinks(html: string, options: RewriteOptions): string {
  const publicBase = base(options.publicUrl);
  const ownPrefixes = [`${publicBase}/u/`, `${publicBase}/e/`];
  const rewritten = html.replace(ANCHOR, (tag, before: string, dq?: string, sq?: string, bare?: string, after = '') => {
    const raw = dq ?? sq ?? bare ?? '';
    const target = decodeEntities(raw).trim();
    const attributes = `${before} ${after}`;
    const skip = !/^https?:\/\//i.test(target)
      || target.includes('{{')
      || (options.unsubscribeUrl !== undefined && target === options.unsubscribeUrl)
      || ownPrefixes.some((prefix) => target.startsWith(prefix))
      || /\bclicktracking\s*=\s*["']?off\b/i.test(attributes);
    if (skip) return tag;
    return `<a${before} href="${escapeAttribute(clickUrl(publicBase, options.sendId, target, options.secret))}"${after}>`;
  });
  if (options.openPixel === false) return rewritten;
  const pixel = `<img src="${escapeAttribute(openPixelUrl(publicBase, options.sendId, options.secret))}" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0">`;
  const close = rewritten.search(/<\/body\s*>(?![\s\S]*<\/body\s*>)/i);
  return close === -1 ? rewritten + pixel : rewritten.slice(0, close) + pixel + rewritten.slice(close);
}
