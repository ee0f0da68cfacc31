import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { productionProblems, projectRoot } from '../../platform/config';

/** The environment docker-compose.yml gives a service: the shared &app-env block, then its own, with ${VAR:?..} set by the operator. */
function composeEnv(service: string, operator: Record<string, string>): Record<string, string> {
  const lines = fs.readFileSync(path.join(projectRoot, 'docker-compose.yml'), 'utf8').split('\n');
  const block = (start: number) => {
    const indent = /^\s*/.exec(lines[start])![0].length;
    const out: string[] = [];
    for (let i = start + 1; i < lines.length && (lines[i].trim() === '' || lines[i].startsWith(' '.repeat(indent + 1))); i++) out.push(lines[i]);
    return out;
  };
  const shared = block(lines.findIndex((l) => l.includes('environment: &app-env')));
  const serviceStart = lines.findIndex((l) => l === `  ${service}:`);
  const own = block(serviceStart);
  const envStart = own.findIndex((l) => /^\s+environment:/.test(l));
  const env: Record<string, string> = {};
  for (const line of [...shared, ...block(serviceStart + 1 + envStart)]) {
    const m = /^\s+([A-Z][A-Z0-9_]*):\s*(.*)$/.exec(line);
    if (!m) continue;
    env[m[1]] = m[2].replace(/^"|"$/g, '').replace(/\$\{([A-Z0-9_]+)(?::([?-])([^}]*))?\}/g, (_, name: string, kind?: string, rest?: string) => {
      if (operator[name] !== undefined) return operator[name];
      if (kind === '?') throw new Error(`${service}: ${name} is required by docker-compose.yml and the test did not set it`);
      return kind === '-' ? rest ?? '' : '';
    });
  }
  return env;
}

describe('docker-compose.yml', () => {
  it('gives the API and every worker what production asks of it, from the settings it requires', () => {
    const operator = {
      PUBLIC_URL: 'https://book.example.com', JWT_SECRET: 'j'.repeat(64), EMAIL_LINK_SECRET: 'e'.repeat(64), METRICS_TOKEN: 'm'.repeat(48),
      EMAIL_PROVIDER: 'smtp', SMTP_URL: 'smtp://mail.example.com:587',
      WHATSAPP_CHANNEL: 'cloud', WHATSAPP_ACCESS_TOKEN: 'EAAG-token', WHATSAPP_PHONE_NUMBER_ID: '1098765', WHATSAPP_APP_SECRET: 'a'.repeat(40), WHATSAPP_VERIFY_TOKEN: 'verify-me',
    };
    for (const [service, kind] of [['api', 'api'], ['worker', 'worker'], ['worker-marketing', 'worker']] as const) {
      const env = composeEnv(service, operator);
      expect(env.NODE_ENV, service).to.equal('production');
      expect(productionProblems(kind, env), service).to.deep.equal([]);
    }
  });
});
