import crypto from 'node:crypto';
import http from 'node:http';
import { expect } from 'chai';
import type { Knex } from 'knex';
import { importContacts, ImportRefused, syncCustomerContacts } from '../../models/contacts';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';

/** Streams `chunks` as the body (chunked, no Content-Length), as a browser or curl uploading a file does. */
async function upload(path: string, chunks: AsyncIterable<string> | Iterable<string>, options: { token: string; type?: string }) {
  const encoder = new TextEncoder();
  const source = (async function* () { yield* chunks; })();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await source.next();
      if (next.done) controller.close();
      else controller.enqueue(encoder.encode(next.value));
    },
  });
  const res = await fetch(`${stack().baseUrl}${path}`, {
    method: 'POST', body, duplex: 'half', headers: { authorization: `Bearer ${options.token}`, 'content-type': options.type ?? 'text/csv' },
  } as RequestInit & { duplex: 'half' });
  const text = await res.text();
  return { status: res.status, body: (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text };
}

/** Lines of 200 rows each, so the body arrives in many chunks. */
function* inChunks(header: string, rows: string[]): Generator<string> {
  yield `${header}\n`;
  for (let i = 0; i < rows.length; i += 200) yield `${rows.slice(i, i + 200).join('\n')}\n`;
}

describe('contacts: streaming CSV import, consent, customer sync', function () {
  this.timeout(60_000);
  const tag = `imp${crypto.randomBytes(3).toString('hex')}`;
  const email = (i: number) => `c${i}.${tag}@example.com`;
  let token: string;

  before(async () => {
    token = await loginAs('marketer');
  });

  describe('a generated file of 2,500 rows with good and bad ones', () => {
    const N = 2500;
    const bad = new Map<number, RegExp>(); // row index → the error it must report
    const rows: string[] = [];
    for (let i = 0; i < N; i++) {
      let cells = [email(i), `First${i}`, `Last${i}`, i % 3 === 0 ? 'es' : 'en', i % 2 ? 'ES' : 'us', 'Europe/Madrid', '1990-04-12', `${tag};vip|b${i % 5}`, i % 4 === 0 ? 'yes' : i % 4 === 1 ? 'no' : '', ''];
      if (i === 17) cells[9] = 'web form 2025';
      if (i % 250 === 7) { cells[0] = `not-an-email-${i}`; bad.set(i, /email "not-an-email-\d+" is not a valid address/); }
      if (i === 10) { cells[3] = 'fr'; bad.set(i, /language must be "es" or "en"/); }
      if (i === 11) { cells[4] = 'ZZ'; bad.set(i, /country must be an ISO 3166-1/); }
      if (i === 12) { cells[5] = 'Mars/Olympus'; bad.set(i, /timezone must be an IANA/); }
      if (i === 13) { cells[6] = '1990-02-30'; bad.set(i, /birthday must be a date/); }
      if (i === 14) { cells[8] = 'maybe'; bad.set(i, /consent_email must be yes\/no/); }
      if (i === 15) { cells[0] = ''; bad.set(i, /email is required/); }
      if (i === 1999) cells[0] = email(3).toUpperCase(); // the same person again, other case: an update, not a duplicate
      rows.push(cells.map((c) => (c.includes(',') ? `"${c}"` : c)).join(','));
    }
    const header = 'Email,First Name,last_name,language,country,timezone,birthday,tags,consent_email,consent_source';
    let summary: any;
    let startedAt: Date;

    before(async () => {
      startedAt = new Date(Date.now() - 1000);
      const res = await upload('/api/v1/contacts/import', inChunks(header, rows), { token });
      expect(res.status, JSON.stringify(res.body).slice(0, 500)).to.equal(201);
      summary = res.body;
    });

    it('counts rows read, created, updated and failed', () => {
      expect(summary).to.include({ object: 'contact_import', status: 'completed', rowsRead: N, failed: bad.size });
      expect(summary.created).to.equal(N - bad.size - 1); // row 1999 updates row 3's contact
      expect(summary.updated).to.equal(1);
    });

    it('reports each bad row with its line number (header = 1), address and why', () => {
      expect(summary.errors).to.have.length(bad.size);
      for (const [i, pattern] of bad) {
        const e = summary.errors.find((x: any) => x.row === i + 2);
        expect(e, `row ${i + 2}`).to.exist;
        expect(e.errors.join('; ')).to.match(pattern);
        if (i !== 15) expect(e.email).to.equal(i % 250 === 7 ? `not-an-email-${i}` : email(i));
      }
    });

    it('stores the contacts with their fields and tags', async () => {
      const { knex } = stack();
      expect(await knex('contacts').whereRaw('? = any(tags)', [tag]).count().first()).to.deep.equal({ count: N - bad.size - 1 });
      const c2 = await knex('contacts').where({ email: email(2) }).first();
      expect(c2).to.include({ first_name: 'First2', last_name: 'Last2', language: 'en', country: 'US', timezone: 'Europe/Madrid', birthday: '1990-04-12', source: 'import' });
      expect(c2.tags).to.have.members([tag, 'vip', 'b2']);
      const c3 = await knex('contacts').whereRaw('lower(email) = ?', [email(3)]);
      expect(c3).to.have.length(1);
      expect(c3[0].first_name).to.equal('First1999');
    });

    it('records consent with its source and time: yes granted, no withdrawn, empty untouched', async () => {
      const { knex } = stack();
      const consent = async (i: number) => knex('contact_consents as cc').join('contacts as c', 'c.id', 'cc.contact_id')
        .where({ 'c.email': email(i), 'cc.channel': 'email' }).first('cc.*');
      const granted = await consent(4);
      expect(granted).to.include({ status: 'granted', source: `import:${summary.id}` });
      expect(new Date(granted.recorded_at)).to.be.within(startedAt, new Date());
      expect(await consent(5)).to.include({ status: 'withdrawn', source: `import:${summary.id}` });
      expect(await consent(6)).to.equal(undefined);
      expect(await consent(17)).to.include({ status: 'withdrawn', source: 'web form 2025' });
    });

    it('shows the finished import, and refuses another with the same id', async () => {
      const res = await api('GET', `/api/v1/contacts/imports/${summary.id}`, { token });
      expect(res.status).to.equal(200);
      expect(res.body).to.include({ status: 'completed', rowsRead: N, created: summary.created, updated: 1, failed: bad.size });
      const again = await upload(`/api/v1/contacts/import?importId=${summary.id}`, ['email\nx@example.com\n'], { token });
      expect(again.status).to.equal(409);
    });

    it('updates on re-import instead of duplicating: empty cells keep values, consent keeps its first record', async () => {
      const { knex } = stack();
      const before = await knex('contact_consents as cc').join('contacts as c', 'c.id', 'cc.contact_id').where({ 'c.email': email(4), 'cc.channel': 'email' }).first('cc.*');
      await knex('contacts').where({ email: email(4) }).update({ language: 'es' });
      const c9 = await knex('contacts').where({ email: email(9) }).first('id');
      await knex('contact_consents').insert({ contact_id: c9.id, channel: 'email', status: 'withdrawn', source: 'unsubscribe link' })
        .onConflict(['contact_id', 'channel']).merge();
      const csv = ['email;first_name;language;tags;consent_email', `${email(4).toUpperCase()};Renamed;;extra;yes`, `${email(8)};;;;no`, `${email(9)};;;;yes`, `new.${tag}@example.com;New;es;${tag};1`].join('\r\n');
      const res = await upload('/api/v1/contacts/import', [csv], { token });
      expect(res.status).to.equal(201);
      expect(res.body).to.include({ rowsRead: 4, created: 1, updated: 3, failed: 0 });
      expect(await knex('contacts').whereRaw('? = any(tags)', [tag]).count().first()).to.deep.equal({ count: N - bad.size });
      const c4 = await knex('contacts').where({ email: email(4) }).first();
      expect(c4).to.include({ first_name: 'Renamed', last_name: 'Last4', language: 'es' }); // language: empty cell kept 'es'
      expect(c4.tags).to.include.members([tag, 'vip', 'extra']);
      const after = await knex('contact_consents').where({ contact_id: c4.id, channel: 'email' }).first();
      expect(after).to.include({ status: 'granted', source: before.source });
      expect(+after.recorded_at).to.equal(+before.recorded_at);
      const c8 = await knex('contact_consents as cc').join('contacts as c', 'c.id', 'cc.contact_id').where({ 'c.email': email(8), 'cc.channel': 'email' }).first('cc.*');
      expect(c8).to.include({ status: 'withdrawn', source: `import:${res.body.id}` }); // granted by the first import, withdrawn now
      // Their own unsubscribe is not overturned by an import.
      expect(await knex('contact_consents').where({ contact_id: c9.id, channel: 'email' }).first()).to.include({ status: 'withdrawn', source: 'unsubscribe link' });
    });

    it('lists them page by page with a cursor, through batches that share one created_at', async () => {
      const seen = new Set<string>();
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res: any = await api('GET', `/api/v1/contacts?tag=${tag}&limit=100${cursor ? `&cursor=${cursor}` : ''}`, { token });
        expect(res.status).to.equal(200);
        for (const c of res.body.data) seen.add(c.id);
        cursor = res.body.nextCursor;
        pages++;
      } while (cursor && pages < 100);
      expect(seen.size).to.equal(N - bad.size);
      expect(pages).to.equal(Math.ceil((N - bad.size) / 100));
      const one = await api('GET', `/api/v1/contacts?email=${email(2).toUpperCase()}`, { token });
      expect(one.body.data).to.have.length(1);
      expect(one.body.data[0]).to.include({ email: email(2), language: 'en', country: 'US' });
      expect(one.body.data[0].tags).to.have.members([tag, 'b2', 'vip']);
      expect(one.body.data[0].consent).to.deep.equal({ email: null, whatsapp: null });
    });
  });

  it('shows progress while a big upload is still running', async () => {
    const importId = crypto.randomUUID();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    const rows = Array.from({ length: 3000 }, (_, i) => `p${i}.${tag}@example.com,P${i}`);
    const chunks = (async function* () {
      yield 'email,first_name\n';
      yield `${rows.slice(0, 2100).join('\n')}\n`;
      await gate; // the rest only once progress was seen
      yield `${rows.slice(2100).join('\n')}\n`;
    })();
    const done = upload(`/api/v1/contacts/import?importId=${importId}`, chunks, { token });
    let seen: any;
    for (let tries = 0; tries < 200 && !(seen?.rowsRead >= 2000); tries++) {
      await new Promise((r) => setTimeout(r, 50));
      const res = await api('GET', `/api/v1/contacts/imports/${importId}`, { token });
      if (res.status === 200) seen = res.body;
    }
    release();
    expect(seen).to.include({ status: 'running', rowsRead: 2000, created: 2000 });
    const res = await done;
    expect(res.status).to.equal(201);
    expect(res.body).to.include({ id: importId, status: 'completed', rowsRead: 3000, created: 3000 });
  });

  it('refuses a body that is not CSV (415) and a file without an email column (400), writing nothing', async () => {
    const { knex } = stack();
    const count = async () => ({
      imports: (await knex('contact_imports').count().first())!.count,
      contacts: (await knex('contacts').count().first())!.count,
    });
    const before = await count();
    const json = await api('POST', '/api/v1/contacts/import', { token, body: { email: `json.${tag}@example.com` } });
    expect(json.status).to.equal(415);
    expect(json.body.code).to.equal('unsupported_media_type');
    const noEmail = await upload('/api/v1/contacts/import', [`name,mail\nAna,ana.${tag}@example.com\n`], { token });
    expect(noEmail.status).to.equal(400);
    expect(noEmail.body).to.include({ code: 'missing_email_column' });
    expect(noEmail.body.detail).to.match(/"email" column/);
    const empty = await upload('/api/v1/contacts/import', [''], { token });
    expect(empty.status).to.equal(400);
    expect(empty.body.code).to.equal('empty_file');
    expect(await count()).to.deep.equal(before);
    const forbidden = await upload('/api/v1/contacts/import', [`email\nx.${tag}@example.com\n`], { token: await loginAs('operator') });
    expect(forbidden.status).to.equal(403);
    expect(await count()).to.deep.equal(before);
  });

  it('keeps a stray quote as text, and stops at a quote never closed, saying where', async () => {
    const csv = `email,first_name\nq1.${tag}@example.com,Bo"b\nq2.${tag}@example.com,"Ann"\nq3.${tag}@example.com,"Unclosed\nq4.${tag}@example.com,Cy\n`;
    const res = await upload('/api/v1/contacts/import', [csv], { token });
    expect(res.status).to.equal(400);
    expect(res.body.code).to.equal('invalid_csv');
    expect(res.body.detail).to.match(/not valid CSV after line 3 \(Quote Not Closed.*the rows before it were imported/);
    const { knex } = stack();
    expect((await knex('contacts').where({ email: `q1.${tag}@example.com` }).first()).first_name).to.equal('Bo"b');
    expect(await knex('contacts').where({ email: `q2.${tag}@example.com` }).first()).to.include({ first_name: 'Ann' });
    const stopped = await knex('contact_imports').orderBy('started_at', 'desc').first();
    expect(stopped).to.include({ status: 'failed', rows_read: 2, created: 2 });
  });

  it('marks an import failed when the upload stops halfway or grows past the limit', async () => {
    const importId = crypto.randomUUID();
    const abort = new AbortController();
    const encoder = new TextEncoder();
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent === 0) controller.enqueue(encoder.encode('email\n'));
        if (sent < 1500) {
          controller.enqueue(encoder.encode(`${Array.from({ length: 500 }, (_, i) => `cut${sent + i}.${tag}@example.com`).join('\n')}\n`));
          sent += 500;
          return;
        }
        await new Promise((r) => setTimeout(r, 300));
        abort.abort();
      },
    });
    const upload = fetch(`${stack().baseUrl}/api/v1/contacts/import?importId=${importId}`, {
      method: 'POST', body, duplex: 'half', signal: abort.signal, headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv' },
    } as RequestInit & { duplex: 'half' }).catch((err: Error) => err);
    expect(await upload).to.be.instanceOf(Error);
    let state: any;
    for (let tries = 0; tries < 100 && state?.status !== 'failed'; tries++) {
      await new Promise((r) => setTimeout(r, 50));
      state = (await api('GET', `/api/v1/contacts/imports/${importId}`, { token })).body;
    }
    expect(state.status).to.equal('failed');
    expect(state.rowsRead).to.be.within(1499, 1500); // the rows that arrived before the cut stay (the last may wait for its line end)
    expect(state.created).to.equal(state.rowsRead);
    expect(state.finishedAt).to.be.a('string');

    const { knex } = stack();
    const big = (async function* () {
      yield 'email\n';
      for (let i = 0; i < 100; i++) yield `big${i}.${tag}@example.com\n`;
    })();
    let refused: unknown;
    try {
      await importContacts(knex, big, { maxBytes: 1000, batchSize: 10 });
    } catch (err) {
      refused = err;
    }
    expect(refused).to.be.instanceOf(ImportRefused);
    expect((refused as ImportRefused).code).to.equal('too_large');
    const last = await knex('contact_imports').orderBy('started_at', 'desc').first();
    expect(last).to.include({ status: 'failed' });
  });

  it('answers 413 to a file over the limit before reading it', async () => {
    const url = new URL(`${stack().baseUrl}/api/v1/contacts/import`);
    const reply = await new Promise<{ status: number; body: any }>((resolve, reject) => {
      const req = http.request(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv', 'content-length': String(60 * 1024 * 1024) } }, (res) => {
        let text = '';
        res.on('data', (c) => { text += c; });
        res.on('end', () => { resolve({ status: res.statusCode!, body: JSON.parse(text) }); req.destroy(); });
      });
      req.on('error', reject);
      req.write('email\n');
    });
    expect(reply.status).to.equal(413);
    expect(reply.body.code).to.equal('body_too_large');
    expect(reply.body.detail).to.match(/50 MB/);
  });

  it('creates one contact with consent, lists with a cursor, and records consent changes', async () => {
    const created = await api('POST', '/api/v1/contacts', {
      token, body: { email: `one.${tag}@example.com`, firstName: 'Uno', language: 'es', country: 'mx', timezone: 'America/Mexico_City', tags: [`${tag}-one`], consent: { email: 'granted', source: 'event stand' } },
    });
    expect(created.status).to.equal(201);
    expect(created.body).to.include({ email: `one.${tag}@example.com`, country: 'MX', source: 'api' });
    expect(created.body.consent.email).to.include({ status: 'granted', source: 'event stand' });
    expect(created.body.consent.whatsapp).to.equal(null);
    const dup = await api('POST', '/api/v1/contacts', { token, body: { email: `ONE.${tag}@example.com` } });
    expect(dup.status).to.equal(409);
    expect(dup.body.contactId).to.equal(created.body.id);
    const badTz = await api('POST', '/api/v1/contacts', { token, body: { email: `two.${tag}@example.com`, timezone: 'Nowhere/Land', country: 'QQ' } });
    expect(badTz.status).to.equal(400);
    expect(badTz.body.errors.map((e: any) => e.param)).to.have.members(['timezone', 'country']);

    const consent = await api('PUT', `/api/v1/contacts/${created.body.id}/consent`, { token, body: { channel: 'whatsapp', status: 'granted', source: 'phone call' } });
    expect(consent.status).to.equal(200);
    expect(consent.body.consent.whatsapp).to.include({ status: 'granted', source: 'phone call' });
    const withdrawn = await api('PUT', `/api/v1/contacts/${created.body.id}/consent`, { token, body: { channel: 'email', status: 'withdrawn', source: 'asked by email' } });
    expect(withdrawn.body.consent.email).to.include({ status: 'withdrawn', source: 'asked by email' });
    expect((await api('PUT', `/api/v1/contacts/${crypto.randomUUID()}/consent`, { token, body: { channel: 'email', status: 'granted', source: 'x' } })).status).to.equal(404);
    const one = await api('GET', `/api/v1/contacts?email=ONE.${tag}@EXAMPLE.com`, { token });
    expect(one.body.data.map((c: any) => c.id)).to.deep.equal([created.body.id]);
  });

  it('syncs customers into contacts with their consent, once', async () => {
    // In a transaction rolled back at the end: linking every customer (the demo ones too) must not leak into other tests.
    const knex = await stack().knex.transaction();
    try {
      await syncScenario(knex);
    } finally {
      await knex.rollback();
    }
  });

  async function syncScenario(knex: Knex.Transaction) {
    const [yes, no] = await knex('customers').insert([
      { first_name: 'Sync', last_name: 'Yes', email: `sync.yes.${tag}@example.com`, language: 'es', country: 'ES', consent_email_marketing: true, consent_whatsapp: false },
      { first_name: 'Sync', last_name: 'No', email: `sync.no.${tag}@example.com`, language: 'en', consent_email_marketing: false, consent_whatsapp: true },
    ]).returning('id');
    // An imported contact who withdrew keeps their decision when they turn out to be a customer who ticked the box.
    const [imported] = await knex('contacts').insert({ email: `SYNC.NO.${tag}@example.com`, source: 'import', first_name: 'Old' }).returning('id');
    await knex('contact_consents').insert({ contact_id: imported.id, channel: 'email', status: 'withdrawn', source: 'import:x' });
    await knex('customers').where({ id: no.id }).update({ consent_email_marketing: true });

    const first = await syncCustomerContacts(knex);
    expect(first.created).to.be.greaterThan(0);
    const cYes = await knex('contacts').where({ customer_id: yes.id }).first();
    expect(cYes).to.include({ email: `sync.yes.${tag}@example.com`, source: 'customer', language: 'es', first_name: 'Sync' });
    expect(await knex('contact_consents').where({ contact_id: cYes.id }).select('channel', 'status', 'source')).to.deep.equal([{ channel: 'email', status: 'granted', source: 'customer record' }]);
    const cNo = await knex('contacts').where({ customer_id: no.id }).first();
    expect(cNo).to.include({ id: imported.id, source: 'import', last_name: 'No' }); // linked, not duplicated
    const noConsents = await knex('contact_consents').where({ contact_id: imported.id }).orderBy('channel').select('channel', 'status', 'source');
    expect(noConsents).to.deep.equal([{ channel: 'email', status: 'withdrawn', source: 'import:x' }, { channel: 'whatsapp', status: 'granted', source: 'customer record' }]);

    const second = await syncCustomerContacts(knex);
    expect(second).to.deep.equal({ created: 0, updated: 0, consentsChanged: 0 });
    // The customer record withdraws what it granted.
    await knex('customers').where({ id: yes.id }).update({ consent_email_marketing: false });
    expect((await syncCustomerContacts(knex)).consentsChanged).to.equal(1);
    expect(await knex('contact_consents').where({ contact_id: cYes.id, channel: 'email' }).first()).to.include({ status: 'withdrawn', source: 'customer record' });
  }
});
