import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { verifyLink } from '../../integrations/email/links';
import { createOutboxProvider, getOutboxMessage, listOutbox } from '../../integrations/email/outbox';
import type { EmailMessage } from '../../integrations/email/types';

function message(n: number, overrides: Partial<EmailMessage> = {}): EmailMessage {
  return {
    sendId: `welcome-${n}`,
    kind: 'marketing',
    to: { email: `guest${n}@example.com` },
    from: { email: 'hola@spirit-tours.example', name: 'Spirit Tours' },
    subject: 'Bienvenido, {{first_name}}',
    html: '<p>Hola {{first_name}}</p><a href="https://spirit.example/tours">Tours</a><a href="{{unsubscribe_url}}">Baja</a>',
    text: 'Hola {{first_name}}. Baja: {{unsubscribe_url}}',
    substitutions: { first_name: `Ana${n}` },
    unsubscribeUrl: `https://spirit.example/unsubscribe/t${n}`,
    categories: ['welcome'],
    ...overrides,
  };
}

describe('development outbox email provider', () => {
  let dataDir: string;

  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'spirit-outbox-'));
  });
  afterEach(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('stores each message as received, one JSON line per message in outbox/YYYY-MM-DD.jsonl, and says it was not sent', async () => {
    const logged: string[] = [];
    const outbox = createOutboxProvider({
      dataDir, now: () => new Date('2026-11-28T09:30:00Z'), logger: { info: (_d, msg) => logged.push(msg) },
    });
    const results = await outbox.send([message(1), message(2)]);
    expect(results).to.deep.equal([
      { sendId: 'welcome-1', status: 'accepted', providerMessageId: 'outbox:welcome-1' },
      { sendId: 'welcome-2', status: 'accepted', providerMessageId: 'outbox:welcome-2' },
    ]);
    expect(logged).to.deep.equal(['development outbox: stored 2 email(s), NOT sent']);

    const file = path.join(dataDir, 'outbox', '2026-11-28.jsonl');
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).to.have.length(2);
    expect(lines[0]).to.deep.equal({
      sendId: 'welcome-1', storedAt: '2026-11-28T09:30:00.000Z', kind: 'marketing',
      to: { email: 'guest1@example.com' }, from: { email: 'hola@spirit-tours.example', name: 'Spirit Tours' },
      subject: 'Bienvenido, Ana1',
      html: '<p>Hola Ana1</p><a href="https://spirit.example/tours">Tours</a><a href="https://spirit.example/unsubscribe/t1">Baja</a>',
      text: 'Hola Ana1. Baja: https://spirit.example/unsubscribe/t1',
      headers: {
        'List-Unsubscribe': '<https://spirit.example/unsubscribe/t1>',
        'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
        'X-Spirit-Send-Id': 'welcome-1',
      },
      categories: ['welcome'],
      note: 'development outbox: not sent',
    });
  });

  it('lists newest first and finds a message by send id, across days and large files', async function () {
    this.timeout(30_000);
    let clock = new Date('2026-11-27T23:00:00Z');
    const outbox = createOutboxProvider({ dataDir, now: () => clock });
    const padding = 'x'.repeat(3000); // lines longer than a read block's share, so lines straddle blocks
    await outbox.send(Array.from({ length: 500 }, (_, i) => message(i, { html: `${padding}<a href="{{unsubscribe_url}}">Baja</a>` })));
    clock = new Date('2026-11-28T01:00:00Z');
    for (let batch = 0; batch < 4; batch++) {
      await outbox.send(Array.from({ length: 250 }, (_, i) => message(500 + batch * 250 + i, { html: `${padding}${i}<a href="{{unsubscribe_url}}">Baja</a>` })));
    }
    expect(fs.readdirSync(path.join(dataDir, 'outbox')).sort()).to.deep.equal(['2026-11-27.jsonl', '2026-11-28.jsonl']);

    const newest = await outbox.listOutbox({ limit: 3 });
    expect(newest.map((m) => m.sendId)).to.deep.equal(['welcome-1499', 'welcome-1498', 'welcome-1497']);
    expect(newest[0]).to.deep.equal({ sendId: 'welcome-1499', storedAt: '2026-11-28T01:00:00.000Z', kind: 'marketing', to: { email: 'guest1499@example.com' }, subject: 'Bienvenido, Ana1499' });
    const all = await listOutbox({ dataDir, limit: 5000 });
    expect(all).to.have.length(1500);
    expect(new Set(all.map((m) => m.sendId)).size).to.equal(1500);
    expect(all[1499].sendId).to.equal('welcome-0');

    expect((await outbox.getOutboxMessage('welcome-0'))?.to.email).to.equal('guest0@example.com');
    expect((await getOutboxMessage({ dataDir, sendId: 'welcome-777' }))?.html).to.equal(`${padding}${777 - 500 - 250}<a href="https://spirit.example/unsubscribe/t777">Baja</a>`);
    expect(await outbox.getOutboxMessage('welcome-99999')).to.equal(null);
  });

  it('is empty before anything is stored', async () => {
    expect(await listOutbox({ dataDir })).to.deep.equal([]);
    expect(await getOutboxMessage({ dataDir, sendId: 'x' })).to.equal(null);
  });

  it('rewrites links to signed tracking URLs when given a link secret, so the page\'s links work like real ones', async () => {
    const outbox = createOutboxProvider({ dataDir, tracking: { publicUrl: 'http://localhost:3000', secret: 's3cret' } });
    await outbox.send([message(5)]);
    const stored = (await outbox.getOutboxMessage('welcome-5'))!;
    const click = /href="([^"]*\/e\/c\/[^"]*)"/.exec(stored.html)![1].replace(/&amp;/g, '&');
    expect(verifyLink(click, 's3cret')).to.deep.equal({ kind: 'click', sendId: 'welcome-5', targetUrl: 'https://spirit.example/tours' });
    expect(stored.html).to.include('href="https://spirit.example/unsubscribe/t5"').and.include('/e/o/welcome-5?s=');
  });

  it('rejects what a real provider would reject, and stores the rest', async () => {
    const outbox = createOutboxProvider({ dataDir });
    const results = await outbox.send([
      message(1, { unsubscribeUrl: undefined }),
      message(2, { to: { email: 'not an address' } }),
      message(3, { kind: 'transactional', unsubscribeUrl: undefined, html: '<p>Your booking ST-ABC123</p>', text: 'Your booking ST-ABC123' }),
    ]);
    expect(results.map((r) => r.status)).to.deep.equal(['rejected', 'rejected', 'accepted']);
    expect((await outbox.listOutbox()).map((m) => m.sendId)).to.deep.equal(['welcome-3']);
    expect((await outbox.getOutboxMessage('welcome-3'))!.headers).to.deep.equal({ 'X-Spirit-Send-Id': 'welcome-3' });
  });
});
