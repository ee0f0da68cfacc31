/** The console's marketing helpers: counting unsaved segment rules and previewing an unsaved template edit. */
import { expect } from 'chai';
import { api, loginAs } from '../support/http';
import { audience, marketingTemplate, MARKETING_MJML } from '../support/campaigns';

describe('console marketing endpoints', () => {
  it('counts unsaved rules exactly as the saved segment counts them, and refuses bad rules', async () => {
    const token = await loginAs('marketer');
    const { tag, segmentId } = await audience(6, { withdrawn: 2 });
    const rules = { all: [{ field: 'tag', op: 'has', value: tag }, { not: { field: 'language', op: 'eq', value: 'en' } }] };
    const preview = await api('POST', '/api/v1/segments/count', { token, body: { rules } });
    expect(preview.status, JSON.stringify(preview.body)).to.equal(200);
    expect(preview.body).to.include({ object: 'segment_count', matching: 3, sendable: 2 });
    const saved = await api('GET', `/api/v1/segments/${segmentId}/count`, { token });
    const unsaved = await api('POST', '/api/v1/segments/count', { token, body: { rules: { field: 'tag', op: 'has', value: tag } } });
    expect([unsaved.body.matching, unsaved.body.sendable]).to.deep.equal([saved.body.matching, saved.body.sendable]);

    const bad = await api('POST', '/api/v1/segments/count', { token, body: { rules: { field: 'tag', op: 'eq', value: tag } } });
    expect(bad.status).to.equal(400);
    const deep = Array.from({ length: 10 }).reduce<object>((node) => ({ not: node }), { field: 'tag', op: 'has', value: tag });
    const tooDeep = await api('POST', '/api/v1/segments/count', { token, body: { rules: deep } });
    expect(tooDeep.status).to.equal(400);
    expect(tooDeep.body.detail).to.contain('nest more than 8 levels');
    const operator = await api('POST', '/api/v1/segments/count', { token: await loginAs('operator'), body: { rules } });
    expect(operator.status).to.equal(403);
  });

  it('previews an unsaved template edit without storing it, and shows MJML\'s errors', async () => {
    const token = await loginAs('marketer');
    const id = await marketingTemplate('Draft preview');
    const mjml = MARKETING_MJML.replace('new tours are out', 'the autumn list is here');
    const ok = await api('POST', `/api/v1/templates/${id}/preview-draft`, { token, body: { subject: 'Hola {{first_name}}', mjml, text: 'Hola. {{unsubscribe_url}}' } });
    expect(ok.status, JSON.stringify(ok.body)).to.equal(200);
    expect(ok.body.html).to.contain('the autumn list is here').and.contain('Hola Lucía');
    expect(ok.body.subject).to.equal('Hola Lucía');
    const stored = await api('GET', `/api/v1/templates/${id}`, { token });
    expect(stored.body.mjml).to.contain('new tours are out');

    const broken = await api('POST', `/api/v1/templates/${id}/preview-draft`, { token, body: { subject: 'x', mjml: mjml.replace('<mj-column>', '<mj-column><mj-sparkles>!</mj-sparkles>'), text: 'x {{unsubscribe_url}}' } });
    expect(broken.status).to.equal(400);
    expect(broken.body.code).to.equal('invalid_mjml');
    const noLink = await api('POST', `/api/v1/templates/${id}/preview-draft`, { token, body: { subject: 'x', mjml, text: 'no link' } });
    expect(noLink.status).to.equal(400);
    expect(noLink.body.code).to.equal('unsubscribe_link_missing');
    const missing = await api('POST', '/api/v1/templates/00000000-0000-4000-8000-000000000000/preview-draft', { token, body: { subject: 'x', mjml, text: 'x {{unsubscribe_url}}' } });
    expect(missing.status).to.equal(404);
  });
});
