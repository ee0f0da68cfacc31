import { expect } from 'chai';
import { config } from '../../platform/config';
import { createOutboxProvider } from '../../integrations/email/outbox';
import { api } from '../support/http';

describe('development outbox pages', () => {
  it('lists what the outbox kept and shows one message, marked as not sent', async () => {
    const outbox = createOutboxProvider({ dataDir: config.dataDir });
    const sendId = `page-test-${Date.now()}`;
    const [result] = await outbox.send([{
      sendId, kind: 'transactional', to: { email: 'ana@example.com' }, from: { email: 'hello@spirit-tours.test' },
      subject: 'Your booking <ST-TEST>', html: '<p>Hola <b>Ana</b><script>alert(1)</script></p>', text: 'Hola Ana',
    }]);
    expect(result.status).to.equal('accepted');
    const list = await api('GET', '/outbox');
    expect(list.status).to.equal(200);
    expect(list.body).to.contain('Nothing here was sent').and.contain('Your booking &#60;ST-TEST&#62;');
    const one = await api('GET', `/outbox/${sendId}`);
    expect(one.body).to.contain('not sent').and.contain('Hola Ana');
    const html = await api('GET', `/outbox/${sendId}?part=html`);
    expect(html.headers.get('content-security-policy')).to.contain('sandbox');
    expect((await api('GET', '/outbox/nope')).status).to.equal(404);
    await outbox.close();
  });
});
