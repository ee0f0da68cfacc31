import { expect } from 'chai';
import type { Knex } from 'knex';
import { createKnex, migrateLatest } from '../../platform/db';
import { seedDemo } from '../../scripts/demo-seed';
import { DEMO_SEGMENT, demoContacts, seedMarketingDemo } from '../../scripts/demo-marketing';
import { checkTemplate } from '../../models/templates';
import { countSegment, type SegmentNode } from '../../models/segments';
import { stack } from '../support/stack';

describe('demo marketing seed (npm start)', function () {
  this.timeout(120_000);
  let knex: Knex;

  before(async () => {
    knex = createKnex(await stack().createDatabase('demo_marketing'), 2);
    await migrateLatest(knex);
    await seedDemo(knex, { horizonDays: 7, bcryptRounds: 4 });
  });
  after(async () => { await knex?.destroy(); });

  it('adds 80 contacts, 2 templates and 1 segment, and nothing on a second run', async () => {
    expect(await seedMarketingDemo(knex)).to.deep.equal({ contacts: 80, templates: 2, segments: 1 });
    const counts = async () => Promise.all(['contacts', 'contact_consents', 'contact_consent_history', 'suppressions', 'email_templates', 'segments']
      .map(async (t) => Number((await knex(t).count({ n: '*' }))[0].n)));
    const before = await counts();
    expect(await seedMarketingDemo(knex)).to.deep.equal({ contacts: 0, templates: 0, segments: 0 });
    expect(await counts()).to.deep.equal(before);
  });

  it('uses only example domains, both languages and the demo tags', async () => {
    const rows = await knex('contacts').select('email', 'language', 'tags', 'country', 'source');
    expect(rows).to.have.length(80);
    expect(rows.every((r) => /@example\.(com|org)$/.test(r.email))).to.equal(true);
    expect(new Set(rows.map((r) => r.language))).to.deep.equal(new Set(['es', 'en']));
    const tags = new Set(rows.flatMap((r) => r.tags as string[]));
    for (const t of ['newsletter', 'vip', 'mexico', 'spain']) expect(tags.has(t), t).to.equal(true);
    expect(new Set(demoContacts().map((c) => c.email.toLowerCase())).size).to.equal(80);
  });

  it('writes consent as the platform does: history per decision, email_sendable = granted and not suppressed', async () => {
    const rows = await knex('contacts as c')
      .leftJoin('contact_consents as ce', (j) => j.on('ce.contact_id', 'c.id').andOnVal('ce.channel', 'email'))
      .leftJoin('suppressions as s', (j) => j.on(knex.raw('s.email = lower(c.email)')))
      .select('c.id', 'c.email_sendable', 'ce.status', 's.reason');
    for (const r of rows) expect(r.email_sendable, r.id).to.equal(r.status === 'granted' && !r.reason);
    const status = (s: string) => rows.filter((r) => r.status === s).length;
    expect(status('granted')).to.equal(72);
    expect(status('withdrawn')).to.equal(8);
    expect(rows.filter((r) => r.reason === 'bounce')).to.have.length(4);
    expect(rows.filter((r) => r.email_sendable)).to.have.length(68);
    expect(await knex('contact_consents').where({ channel: 'whatsapp', status: 'granted' }).count({ n: '*' }).then((r) => Number(r[0].n))).to.equal(20);
    const consents = Number((await knex('contact_consents').count({ n: '*' }))[0].n);
    const history = Number((await knex('contact_consent_history').count({ n: '*' }))[0].n);
    expect(history).to.equal(consents); // one decision each, every one in the history
  });

  it('stores marketing templates that pass the template checks, one per language', async () => {
    const rows = await knex('email_templates').where({ kind: 'marketing' }).select('*');
    expect(rows.map((r) => r.language).sort()).to.deep.equal(['en', 'es']);
    for (const t of rows) {
      const { problem, html } = await checkTemplate({ kind: t.kind, key: t.key, subject: t.subject, mjml: t.mjml, text: t.text });
      expect(problem, t.name).to.equal(null);
      expect(html).to.include('{{unsubscribe_url}}');
    }
  });

  it('saves a segment that counts Spanish newsletter readers', async () => {
    const row = await knex('segments').where({ name: DEMO_SEGMENT.name }).first();
    expect(row).to.not.equal(undefined);
    expect(row.created_by_user_id).to.be.a('string'); // the demo marketer
    const counts = await countSegment(knex, row.rules as SegmentNode);
    const expected = demoContacts().filter((c) => c.language === 'es' && c.tags.includes('newsletter'));
    expect(counts.matching).to.equal(expected.length).and.to.be.greaterThan(0);
    expect(counts.sendable).to.equal(expected.filter((c) => c.email_consent === 'granted' && !c.bounced).length).and.to.be.greaterThan(0);
  });
});
