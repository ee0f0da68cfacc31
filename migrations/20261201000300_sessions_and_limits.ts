/**
 * Sessions that can end, password resets and shared rate-limit counters.
 *
 * - users.session_epoch: every access token carries the epoch it was issued in; raising it ends
 *   every session of the user at once (end all sessions, password change or reset, deactivation).
 * - A trigger NOTIFYs `user_sessions` with the user's id whenever what an access token stands for
 *   changes (active, role, scope, epoch), so every API instance drops its cached copy at once.
 * - password_reset_tokens: single-use, short-lived; only a SHA-256 of the token is stored.
 * - rate_limits: rate-limiter-flexible's PostgreSQL store (key, points, expire in epoch ms), made
 *   here so the API never creates tables at run time; every API instance shares the counts.
 * - The `password_reset` transactional email (es, en). Existing key + language rows are left as
 *   staff edited them.
 */
import type { Knex } from 'knex';

const layout = (language: 'es' | 'en', c: { subject: string; preheader: string; heading: string; paragraphs: string[]; button: string; after: string[]; footer: string }) => {
  const text = (p: string) => `
        <mj-text>${p}</mj-text>`;
  const mjml = `<mjml lang="${language}">
  <mj-head>
    <mj-title>${c.subject}</mj-title>
    <mj-preview>${c.preheader}</mj-preview>
    <mj-attributes>
      <mj-all font-family="Helvetica, Arial, sans-serif" />
      <mj-text font-size="15px" line-height="24px" color="#1d2630" />
      <mj-button background-color="#1f7a4d" color="#ffffff" font-size="15px" font-weight="bold" border-radius="6px" inner-padding="12px 24px" />
    </mj-attributes>
  </mj-head>
  <mj-body background-color="#f3f5f7" width="600px">
    <mj-section padding="24px 0 12px">
      <mj-column>
        <mj-text align="center" font-size="20px" font-weight="bold" letter-spacing="1px" color="#1f7a4d">SPIRIT TOURS</mj-text>
      </mj-column>
    </mj-section>
    <mj-section background-color="#ffffff" border-radius="10px" padding="16px 0">
      <mj-column>
        <mj-text font-size="22px" line-height="30px" font-weight="bold">${c.heading}</mj-text>${c.paragraphs.map(text).join('')}
        <mj-button href="{{reset_url}}" align="left">${c.button}</mj-button>${c.after.map(text).join('')}
      </mj-column>
    </mj-section>
    <mj-section padding="12px 0 24px">
      <mj-column>
        <mj-text align="center" font-size="12px" line-height="18px" color="#5b6770">${c.footer}</mj-text>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>
`;
  const plain = [c.heading, '', ...c.paragraphs.flatMap((p) => [p, '']), `${c.button}: {{reset_url}}`, '', ...c.after.flatMap((p) => [p, '']), '--', c.footer, ''].join('\n');
  return { mjml, text: plain };
};

const PASSWORD_RESET = {
  en: {
    name: 'Password reset (en)', subject: 'Reset your Spirit Tours password', preheader: 'A link to choose a new password, valid for {{expires_minutes}} minutes.',
    heading: 'Choose a new password',
    paragraphs: ['Hi {{name}}, someone (we hope you) asked to reset the password of your Spirit Tours account. The link below works once, for {{expires_minutes}} minutes.'],
    button: 'Choose a new password',
    after: ['If you did not ask for this, ignore this email: your password stays as it is.'],
    footer: 'Spirit Tours · You receive this email because a password reset was requested for this address.',
  },
  es: {
    name: 'Restablecer contraseña (es)', subject: 'Restablece tu contraseña de Spirit Tours', preheader: 'Un enlace para elegir una contraseña nueva, válido {{expires_minutes}} minutos.',
    heading: 'Elige una contraseña nueva',
    paragraphs: ['Hola {{name}}: alguien (esperamos que tú) ha pedido restablecer la contraseña de tu cuenta de Spirit Tours. El enlace funciona una sola vez, durante {{expires_minutes}} minutos.'],
    button: 'Elegir una contraseña nueva',
    after: ['Si no lo has pedido, ignora este correo: tu contraseña no cambia.'],
    footer: 'Spirit Tours · Recibes este correo porque se pidió restablecer la contraseña de esta dirección.',
  },
};

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.integer('session_epoch').notNullable().defaultTo(0);
    t.timestamp('password_changed_at', { useTz: true });
  });
  await knex.raw(`
    create function notify_user_sessions() returns trigger language plpgsql as $$
    begin
      perform pg_notify('user_sessions', coalesce(new.id, old.id)::text);
      return null;
    end $$;
    create trigger users_session_notify
      after update of active, role, branch_id, partner_id, customer_id, session_epoch or delete on users
      for each row execute function notify_user_sessions();
  `);

  await knex.schema.createTable('password_reset_tokens', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.uuid('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.specificType('token_hash', 'char(64)').notNullable().unique(); // hex SHA-256 of the token; the token itself is never stored
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('used_at', { useTz: true });
    t.string('requested_ip');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['user_id', 'created_at']);
  });

  // Column names and order as rate-limiter-flexible's RateLimiterPostgres writes them (INSERT ... VALUES ($1, $2, $3)).
  await knex.raw(`create table rate_limits (key varchar(255) primary key, points integer not null default 0, expire bigint)`);
  await knex.raw('create index rate_limits_expire on rate_limits (expire)');

  const rows = (['en', 'es'] as const).map((language) => {
    const copy = PASSWORD_RESET[language];
    return { name: copy.name, kind: 'transactional', key: 'password_reset', language, subject: copy.subject, ...layout(language, copy) };
  });
  await knex.raw(
    `insert into email_templates (name, kind, key, language, subject, mjml, text)
     select v.name, v.kind, v.key, v.language, v.subject, v.mjml, v.text
       from jsonb_to_recordset(?::jsonb) as v(name text, kind text, key text, language text, subject text, mjml text, text text)
     on conflict (key, language) where key is not null do nothing`,
    [JSON.stringify(rows)],
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex('email_templates').where({ kind: 'transactional', key: 'password_reset' }).delete();
  await knex.schema.dropTableIfExists('rate_limits');
  await knex.schema.dropTableIfExists('password_reset_tokens');
  await knex.raw('drop trigger if exists users_session_notify on users; drop function if exists notify_user_sessions()');
  await knex.schema.alterTable('users', (t) => {
    t.dropColumn('password_changed_at');
    t.dropColumn('session_epoch');
  });
}
