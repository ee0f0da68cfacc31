import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { createEmailProvider, describeEmailProvider } from '../../integrations/email';

describe('email provider selection (EMAIL_PROVIDER)', () => {
  let dataDir: string;

  before(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'spirit-email-'));
  });
  after(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('uses the development outbox when nothing is configured', async () => {
    const provider = createEmailProvider({ env: {}, dataDir });
    expect(provider.name).to.equal('outbox');
    expect(describeEmailProvider({})).to.match(/development outbox.*NOT sent/);
    await provider.close();
  });

  it('builds sendgrid and smtp from their settings', async () => {
    const sendgrid = createEmailProvider({ env: { EMAIL_PROVIDER: 'sendgrid', SENDGRID_API_KEY: 'SG.k', SENDGRID_BASE_URL: 'http://127.0.0.1:1' }, dataDir });
    expect(sendgrid).to.include({ name: 'sendgrid', maxBatch: 1000 });
    const smtp = createEmailProvider({ env: { EMAIL_PROVIDER: 'SMTP', SMTP_URL: 'smtp://u:p@127.0.0.1:2525?maxConnections=3' }, dataDir });
    expect(smtp.name).to.equal('smtp');
    await smtp.close();
  });

  it('names the missing setting instead of falling back', () => {
    expect(() => createEmailProvider({ env: { EMAIL_PROVIDER: 'sendgrid' }, dataDir })).to.throw('EMAIL_PROVIDER=sendgrid needs SENDGRID_API_KEY');
    expect(() => createEmailProvider({ env: { EMAIL_PROVIDER: 'smtp' }, dataDir })).to.throw(/EMAIL_PROVIDER=smtp needs SMTP_URL/);
    expect(() => createEmailProvider({ env: { EMAIL_PROVIDER: 'mailgun' }, dataDir })).to.throw('EMAIL_PROVIDER must be one of outbox, sendgrid, smtp, got "mailgun"');
    expect(() => createEmailProvider({ env: { EMAIL_PROVIDER: 'smtp', SMTP_URL: 'smtp://h:25?maxConnections=lots' }, dataDir })).to.throw(/maxConnections/);
    expect(() => createEmailProvider({ env: { EMAIL_PROVIDER: 'smtp', SMTP_URL: 'smtp://h:25', SMTP_TRANSFER_ENCODING: '8bit' }, dataDir })).to.throw(/SMTP_TRANSFER_ENCODING must be quoted-printable or base64/);
  });

  it('describes the provider in one line without secrets', () => {
    expect(describeEmailProvider({ EMAIL_PROVIDER: 'sendgrid', SENDGRID_API_KEY: 'SG.secret' })).to.equal(
      'email: sendgrid via https://api.sendgrid.com, event webhook rejected (set SENDGRID_WEBHOOK_PUBLIC_KEY)');
    expect(describeEmailProvider({ EMAIL_PROVIDER: 'sendgrid' })).to.match(/not configured \(set SENDGRID_API_KEY\)/);
    const smtp = describeEmailProvider({ EMAIL_PROVIDER: 'smtp', SMTP_URL: 'smtps://mailer:hunter2@smtp.example.com:465' });
    expect(smtp).to.equal('email: smtp via smtps://mailer@smtp.example.com:465 (pooled, 5 connections), own open/click tracking');
    expect(smtp).not.to.include('hunter2');
    expect(describeEmailProvider({ EMAIL_PROVIDER: 'pigeon' })).to.match(/^email: misconfigured/);
  });
});
