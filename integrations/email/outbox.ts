/**
 * The development outbox: the default email provider when none is configured. It SENDS NOTHING.
 * Every message is stored as its recipient would have received it (substitutions applied,
 * List-Unsubscribe headers, tracking links when `tracking` is given), one JSON line per message
 * in `${dataDir}/outbox/YYYY-MM-DD.jsonl` (UTC day), for a page that lists and shows them.
 *
 * Files, not a table: it is a development stand-in, it needs no migration, and a day's file can
 * be read or deleted by hand. Reads go backwards from the newest line, so listing stays quick
 * after a large test campaign.
 */
import fs from 'node:fs';
import path from 'node:path';
import { rewriteLinks } from './links';
import { messageProblem, renderMessage } from './message';
import type { EmailAddress, EmailKind, EmailProvider, SendResult } from './types';

export interface OutboxMessage {
  sendId: string;
  /** ISO time it was stored. */
  storedAt: string;
  kind: EmailKind;
  to: EmailAddress;
  from: EmailAddress;
  replyTo?: EmailAddress;
  subject: string;
  html: string;
  text: string;
  headers: Record<string, string>;
  categories: string[];
  /** Always the same reminder, so a stored message is never mistaken for a sent one. */
  note: 'development outbox: not sent';
}

export type OutboxSummary = Pick<OutboxMessage, 'sendId' | 'storedAt' | 'kind' | 'to' | 'subject'>;

export interface OutboxOptions {
  dataDir: string;
  /** Rewrite links to our signed click URLs and add the open pixel, as the SMTP provider does. */
  tracking?: { publicUrl: string; secret: string };
  logger?: { info(details: object, message: string): void };
  now?: () => Date;
}

export interface OutboxProvider extends EmailProvider {
  readonly name: 'outbox';
  readonly directory: string;
  listOutbox(options?: { limit?: number }): Promise<OutboxSummary[]>;
  getOutboxMessage(sendId: string): Promise<OutboxMessage | null>;
}

export function outboxDirectory(dataDir: string): string {
  return path.join(dataDir, 'outbox');
}

const DAY_FILE = /^\d{4}-\d{2}-\d{2}\.jsonl$/;

function dayFilesNewestFirst(directory: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(directory);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names.filter((n) => DAY_FILE.test(n)).sort().reverse().map((n) => path.join(directory, n));
}

/** The lines of a file from last to first, read in blocks from the end. */
function* linesBackward(file: string, blockSize = 256 * 1024): Generator<string> {
  const fd = fs.openSync(file, 'r');
  try {
    let position = fs.fstatSync(fd).size;
    let carry: Buffer = Buffer.alloc(0); // the start of a line whose beginning is in an earlier block
    while (position > 0) {
      const size = Math.min(blockSize, position);
      position -= size;
      const block = Buffer.alloc(size);
      fs.readSync(fd, block, 0, size, position);
      const buffer: Buffer = Buffer.concat([block, carry]);
      let end = buffer.length;
      for (let i = size - 1; i >= 0; i--) { // carry holds no newline: scan the new block only
        if (buffer[i] !== 0x0a) continue;
        if (end > i + 1) yield buffer.subarray(i + 1, end).toString('utf8');
        end = i;
      }
      carry = buffer.subarray(0, end);
    }
    if (carry.length > 0) yield carry.toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
}

function parseLine(line: string): OutboxMessage | null {
  try {
    return JSON.parse(line) as OutboxMessage;
  } catch {
    return null; // a line cut short by a crash mid-write
  }
}

/** The newest stored messages first. */
export async function listOutbox({ dataDir, limit = 50 }: { dataDir: string; limit?: number }): Promise<OutboxSummary[]> {
  const found: OutboxSummary[] = [];
  for (const file of dayFilesNewestFirst(outboxDirectory(dataDir))) {
    for (const line of linesBackward(file)) {
      const message = parseLine(line);
      if (!message) continue;
      found.push({ sendId: message.sendId, storedAt: message.storedAt, kind: message.kind, to: message.to, subject: message.subject });
      if (found.length >= limit) return found;
    }
  }
  return found;
}

/** The newest stored message with this send id, or null. */
export async function getOutboxMessage({ dataDir, sendId }: { dataDir: string; sendId: string }): Promise<OutboxMessage | null> {
  const needle = `"sendId":${JSON.stringify(sendId)}`;
  for (const file of dayFilesNewestFirst(outboxDirectory(dataDir))) {
    for (const line of linesBackward(file)) {
      if (!line.includes(needle)) continue;
      const message = parseLine(line);
      if (message?.sendId === sendId) return message;
    }
  }
  return null;
}

export function createOutboxProvider(options: OutboxOptions): OutboxProvider {
  const directory = outboxDirectory(options.dataDir);
  const now = options.now ?? (() => new Date());
  // Appends from this process go one after another, so lines never interleave.
  let writing: Promise<unknown> = Promise.resolve();

  return {
    name: 'outbox',
    maxBatch: 1000,
    directory,
    async send(messages) {
      const storedAt = now();
      const results: SendResult[] = [];
      const lines: string[] = [];
      for (const message of messages) {
        const problem = messageProblem(message);
        if (problem) {
          results.push({ sendId: message.sendId, status: 'rejected', error: problem });
          continue;
        }
        const rendered = renderMessage(message);
        const stored: OutboxMessage = {
          sendId: message.sendId,
          storedAt: storedAt.toISOString(),
          kind: message.kind,
          to: message.to,
          from: message.from,
          ...(message.replyTo ? { replyTo: message.replyTo } : {}),
          subject: rendered.subject,
          html: rendered.html && options.tracking
            ? rewriteLinks(rendered.html, { ...options.tracking, sendId: message.sendId, unsubscribeUrl: message.unsubscribeUrl })
            : rendered.html,
          text: rendered.text,
          headers: { ...rendered.headers, 'X-Spirit-Send-Id': message.sendId },
          categories: message.categories ?? [],
          note: 'development outbox: not sent',
        };
        lines.push(JSON.stringify(stored));
        results.push({ sendId: message.sendId, status: 'accepted', providerMessageId: `outbox:${message.sendId}` });
      }
      if (lines.length > 0) {
        const file = path.join(directory, `${storedAt.toISOString().slice(0, 10)}.jsonl`);
        const write = writing.then(async () => {
          await fs.promises.mkdir(directory, { recursive: true });
          await fs.promises.appendFile(file, `${lines.join('\n')}\n`, 'utf8');
        });
        writing = write.catch(() => undefined);
        await write;
        options.logger?.info({ file, stored: lines.length }, `development outbox: stored ${lines.length} email(s), NOT sent`);
      }
      return results;
    },
    listOutbox: ({ limit } = {}) => listOutbox({ dataDir: options.dataDir, limit }),
    getOutboxMessage: (sendId) => getOutboxMessage({ dataDir: options.dataDir, sendId }),
    async close() {
      await writing;
    },
  };
}
