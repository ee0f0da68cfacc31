/**
 * Our own tracking and unsubscribe links, for the providers that do not track for us (SMTP, the
 * development outbox). Every link is signed with HMAC-SHA256 (truncated to 128 bits, base64url)
 * over what it means, so a link cannot be pointed at another send or turned into an open
 * redirect; verification compares in constant time.
 *
 *   open pixel   {publicUrl}/e/o/{sendId}?s={sig}
 *   click        {publicUrl}/e/c/{sendId}?u={target}&s={sig}
 *   unsubscribe  {publicUrl}/u/{token}                 (token: signUnsubscribeToken)
 *
 * The routes that serve them are mounted by the API; `verifyLink` reads a request URL back.
 */
import crypto from 'node:crypto';

type LinkKind = 'open' | 'click' | 'unsubscribe';

const PURPOSE: Record<LinkKind, string> = { open: 'o', click: 'c', unsubscribe: 'u' };
const SEND_ID = /^[A-Za-z0-9._-]{1,100}$/;

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

/** A token naming whom to unsubscribe (a contact id, or `contactId:listId`), signed. */
export function signUnsubscribeToken(subject: string, secret: string): string {
  return `${Buffer.from(subject, 'utf8').toString('base64url')}.${sign(secret, 'unsubscribe', subject)}`;
}

/** The subject of a genuine token, or null. */
export function verifyUnsubscribeToken(token: string, secret: string): string | null {
  const match = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(token);
  if (!match) return null;
  const subject = Buffer.from(match[1], 'base64url').toString('utf8');
  return sameSignature(match[2], sign(secret, 'unsubscribe', subject)) ? subject : null;
}

export type VerifiedLink =
  | { kind: 'open'; sendId: string }
  | { kind: 'click'; sendId: string; targetUrl: string };

/**
 * Reads an open or click link back from the URL a request came in on (absolute, or a path with
 * its query string; a path prefix before /e/ is allowed). Null when it is not one of ours or its
 * signature does not match: the caller answers 404 and must not redirect.
 */
export function verifyLink(requestUrl: string | URL, secret: string): VerifiedLink | null {
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
  if (match[1] === 'o') return sameSignature(signature, sign(secret, 'open', sendId)) ? { kind: 'open', sendId } : null;
  const targetUrl = url.searchParams.get('u');
  if (!targetUrl || !/^https?:\/\//i.test(targetUrl)) return null;
  return sameSignature(signature, sign(secret, 'click', sendId, targetUrl)) ? { kind: 'click', sendId, targetUrl } : null;
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
