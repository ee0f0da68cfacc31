import crypto from 'node:crypto';
import { expect } from 'chai';
import { config } from '../../platform/config';
import { getOutboxMessage } from '../../integrations/email/outbox';
import {
  renderTemplate, seedTransactionalTemplates, transactionalTemplateSeeds, TRANSACTIONAL_KEYS, TRANSACTIONAL_TEMPLATE_VARIABLES,
} from '../../models/templates';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';

const mjml = (inner: string) => `<mjml>
  <mj-body>
    <mj-section>
      <mj-column>
${inner}
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>`;

const GOOD_MARKETING = {
  name: 'Spring offers', kind: 'marketing', language: 'en', subject: 'Spring in {{city}}, {{first_name}}',
  mjml: mjml(`        <mj-text>Hi {{first_name}}, spring tours to {{city}} are {{discount}} off.</mj-text>
        <mj-button href="https://spirit-tours.test/spring">See the tours</mj-button>
        <mj-text font-size="11px"><a href="{{unsubscribe_url}}">Unsubscribe</a></mj-text>`),
  text: 'Hi {{first_name}}, spring tours to {{city}} are {{discount}} off.\n\nUnsubscribe: {{unsubscribe_url}}',
};

describe('email templates', function () {
  this.timeout(60_000);
  let token: string;
  let marketing: any;

  before(async () => {
    token = await loginAs('marketer');
    const res = await api('POST', '/api/v1/templates', { token, body: GOOD_MARKETING });
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    marketing = res.body;
  });

  it('stores a valid template and lists the variables it uses', async () => {
    expect(marketing).to.include({ object: 'email_template', kind: 'marketing', key: null, language: 'en' });
    expect(marketing.variables).to.have.members(['city', 'first_name', 'discount', 'unsubscribe_url']);
    const got = await api('GET', `/api/v1/templates/${marketing.id}`, { token });
    expect(got.status).to.equal(200);
    expect(got.body.mjml).to.equal(GOOD_MARKETING.mjml);
    const list = await api('GET', '/api/v1/templates?kind=marketing&limit=100', { token });
    expect(list.body.data.map((t: any) => t.id)).to.include(marketing.id);
    expect(list.body.data[0]).to.not.have.property('mjml');
    expect((await api('GET', `/api/v1/templates/${crypto.randomUUID()}`, { token })).status).to.equal(404);
    expect((await api('GET', '/api/v1/templates', { token: await loginAs('customer') })).status).to.equal(403);
  });

  it('refuses MJML that does not compile, with each error\'s line and message', async () => {
    const res = await api('POST', '/api/v1/templates', {
      token, body: { ...GOOD_MARKETING, mjml: mjml('        <mj-txt>Hi</mj-txt>\n        <mj-button hreff="https://x.test">Go</mj-button>\n        <mj-text><a href="{{unsubscribe_url}}">u</a></mj-text>') },
    });
    expect(res.status).to.equal(400);
    expect(res.body.code).to.equal('invalid_mjml');
    expect(res.body.mjmlErrors).to.deep.include({ line: 5, message: "Element mj-txt doesn't exist or is not registered", tagName: 'mj-txt' });
    expect(res.body.mjmlErrors.find((e: any) => e.line === 6).message).to.match(/Attribute hreff is illegal/);
    expect(res.body.errors[0]).to.include({ location: 'body', param: 'mjml' });
    expect(res.body.detail).to.match(/line 5: Element mj-txt/);
    const notMjml = await api('POST', '/api/v1/templates', { token, body: { ...GOOD_MARKETING, mjml: '<p>just html {{unsubscribe_url}}</p>' } });
    expect(notMjml.status).to.equal(400);
    expect(notMjml.body.code).to.equal('invalid_mjml');
  });

  it('refuses malformed {{variables}}', async () => {
    const res = await api('POST', '/api/v1/templates', { token, body: { ...GOOD_MARKETING, text: `${GOOD_MARKETING.text}\nSee you, {{ First Name }}` } });
    expect(res.status).to.equal(400);
    expect(res.body.code).to.equal('invalid_variable');
    expect(res.body.variableErrors[0]).to.include({ part: 'text', line: 4 });
    expect(res.body.detail).to.match(/malformed variable "\{\{ First Name \}\}"/);
  });

  it('refuses a marketing template without the unsubscribe link, in the html or the text', async () => {
    const noText = await api('POST', '/api/v1/templates', { token, body: { ...GOOD_MARKETING, text: 'Hi {{first_name}}' } });
    expect(noText.status).to.equal(400);
    expect(noText.body).to.include({ code: 'unsubscribe_link_missing', param: 'text' });
    expect(noText.body.detail).to.match(/\{\{unsubscribe_url\}\} in text/);
    const onlyInComment = await api('POST', '/api/v1/templates', {
      token, body: { ...GOOD_MARKETING, mjml: mjml('        <mj-text>Hi <!-- {{unsubscribe_url}} --></mj-text>') },
    });
    expect(onlyInComment.status).to.equal(400);
    expect(onlyInComment.body).to.include({ code: 'unsubscribe_link_missing', param: 'mjml' });
    // Transactional templates need a key (and then no unsubscribe link); marketing ones have none.
    const noKey = await api('POST', '/api/v1/templates', { token, body: { ...GOOD_MARKETING, kind: 'transactional', text: 'Hi' } });
    expect(noKey.status).to.equal(400);
    expect(noKey.body.param).to.equal('key');
    const keyed = await api('POST', '/api/v1/templates', { token, body: { ...GOOD_MARKETING, key: 'spring' } });
    expect(keyed.status).to.equal(400);
  });

  it('renders: values HTML-escaped in the html, raw in subject and text; the unsubscribe token left for the provider', async () => {
    const template = await stack().knex('email_templates').where({ id: marketing.id }).first();
    const rendered = await renderTemplate(template, { first_name: '<b>Ana</b> & "Co"', city: 'Málaga', discount: '20%' });
    expect(rendered.html).to.include('Hi &lt;b&gt;Ana&lt;/b&gt; &amp; &quot;Co&quot;, spring tours to Málaga are 20% off.');
    expect(rendered.html).to.not.include('<b>Ana</b>');
    expect(rendered.html).to.include('href="{{unsubscribe_url}}"');
    expect(rendered.html).to.match(/<!doctype html>/i);
    expect(rendered.text).to.equal('Hi <b>Ana</b> & "Co", spring tours to Málaga are 20% off.\n\nUnsubscribe: {{unsubscribe_url}}');
    expect(rendered.subject).to.equal('Spring in Málaga, <b>Ana</b> & "Co"');
    expect(rendered.missingVariables).to.deep.equal([]);
    // Renders of the same version reuse the compiled HTML (keyed by id + updated_at): shown by
    // handing it other MJML under the same version, which is not compiled again, while a new
    // version is.
    const changed = { ...template, mjml: template.mjml.replace('spring tours', 'autumn tours') };
    expect(changed.mjml).to.not.equal(template.mjml);
    expect((await renderTemplate(changed, { first_name: 'A' })).html).to.include('spring tours').and.not.include('autumn tours');
    const newVersion = { ...changed, updated_at: new Date(new Date(template.updated_at).getTime() + 1000) };
    expect((await renderTemplate(newVersion, { first_name: 'A' })).html).to.include('autumn tours');
  });

  it('previews with a contact\'s fields (or a sample\'s) and lists the missing variables', async () => {
    const sample = await api('POST', `/api/v1/templates/${marketing.id}/preview`, { token, body: { variables: { city: 'Cancún' } } });
    expect(sample.status).to.equal(200);
    expect(sample.body.missingVariables).to.deep.equal(['discount']);
    expect(sample.body.subject).to.equal('Spring in Cancún, Alex');
    expect(sample.body.text).to.include('are  off.');
    const [contact] = await stack().knex('contacts').insert({ email: `preview.${crypto.randomBytes(3).toString('hex')}@example.com`, first_name: 'Zoë <3', source: 'api' }).returning('*');
    const withContact = await api('POST', `/api/v1/templates/${marketing.id}/preview`, { token, body: { contactId: contact.id } });
    expect(withContact.body.missingVariables).to.have.members(['city', 'discount']);
    expect(withContact.body.html).to.include('Hi Zoë &lt;3,');
    expect(withContact.body.subject).to.equal('Spring in , Zoë <3');
    const missing = await api('POST', `/api/v1/templates/${marketing.id}/preview`, { token, body: { contactId: crypto.randomUUID() } });
    expect(missing.status).to.equal(404);
  });

  it('test-sends one message into the development outbox', async () => {
    const to = `tester.${crypto.randomBytes(3).toString('hex')}@example.com`;
    const res = await api('POST', `/api/v1/templates/${marketing.id}/test-send`, { token, body: { to, variables: { city: 'Dubai', discount: '15%' } } });
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    expect(res.body).to.include({ object: 'test_send', provider: 'outbox', status: 'accepted', to });
    expect(res.body.sendId).to.match(/^test-/);
    const stored = await getOutboxMessage({ dataDir: config.dataDir, sendId: res.body.sendId });
    expect(stored).to.not.equal(null);
    expect(stored!).to.deep.include({ kind: 'marketing', to: { email: to } });
    expect(stored!.subject).to.equal('[Test] Spring in Dubai, Alex');
    expect(stored!.headers['List-Unsubscribe']).to.match(/^<http.*\/u\/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+>$/);
    expect(stored!.headers['List-Unsubscribe-Post']).to.equal('List-Unsubscribe=One-Click');
    expect(stored!.text).to.match(/Unsubscribe: http\S+\/u\//);
    expect(stored!.html).to.not.include('{{');
  });

  it('seeds the transactional templates for es and en, idempotently, and they compile and fill completely', async () => {
    const { knex } = stack();
    await seedTransactionalTemplates(knex);
    expect(await seedTransactionalTemplates(knex)).to.equal(0);
    const rows = await knex('email_templates').where({ kind: 'transactional' }).whereIn('key', [...TRANSACTIONAL_KEYS]);
    expect(rows).to.have.length(TRANSACTIONAL_KEYS.length * 2);
    expect(transactionalTemplateSeeds()).to.have.length(16);
    for (const row of rows) {
      const values = Object.fromEntries(TRANSACTIONAL_TEMPLATE_VARIABLES[row.key as keyof typeof TRANSACTIONAL_TEMPLATE_VARIABLES].map((v) => [v, `<${v}>`]));
      const rendered = await renderTemplate(row, values);
      expect(rendered.missingVariables, `${row.key}/${row.language}`).to.deep.equal([]);
      expect(rendered.html).to.include('&lt;reference&gt;');
      expect(rendered.html).to.not.match(/\{\{/);
      expect(rendered.text).to.not.match(/\{\{/);
      expect(rendered.html).to.include(`lang="${row.language}"`);
    }
    const clash = await api('POST', '/api/v1/templates', {
      token, body: { name: 'Another confirmation', kind: 'transactional', key: 'booking_confirmation', language: 'es', subject: 'x', mjml: mjml('<mj-text>x</mj-text>'), text: 'x' },
    });
    expect(clash.status).to.equal(409);
    expect(clash.body.code).to.equal('template_exists');
  });
});
