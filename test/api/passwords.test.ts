import { expect } from 'chai';
import { hashPassword, isCommonPassword, passwordRuleBroken, verifyPassword } from '../../services/passwords';
import { COMMON_PASSWORDS } from '../../services/common-passwords';
import { config } from '../../platform/config';

describe('password hashing and policy', () => {
  it('hashes with bcrypt at BCRYPT_ROUNDS and verifies hashes made by bcryptjs (the demo seed\'s until now)', async () => {
    const hash = await hashPassword('spirit-demo');
    expect(hash).to.match(new RegExp(`^\\$2b\\$${String(config.bcryptRounds).padStart(2, '0')}\\$`));
    expect(await verifyPassword('spirit-demo', hash)).to.equal(true);
    expect(await verifyPassword('spirit-demo!', hash)).to.equal(false);
    const byBcryptjs = '$2b$04$DVr3oX5fB2MT4eiKM18bCezfi5N3ew0PFXy39hSSHe0iY3iPyqknW';
    expect(await verifyPassword('spirit-demo', byBcryptjs)).to.equal(true);
    expect(await verifyPassword('spirit-demo', undefined)).to.equal(false); // unknown email: the dummy hash, never a match
    expect(await verifyPassword('spirit-demo', 'not-a-hash')).to.equal(false);
  });

  it('keeps the event loop turning while it hashes (the work runs on libuv\'s thread pool)', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    await hashPassword('a long enough password', 11);
    clearInterval(timer);
    expect(ticks).to.be.greaterThan(0); // a hash computed on the loop (bcryptjs hashSync) leaves 0
  });

  it('ships a common-password list and names the rule a password breaks', () => {
    const list = COMMON_PASSWORDS.split('\n');
    expect(list.length).to.be.within(10_000, 100_000);
    expect(isCommonPassword('Password123')).to.equal(true);
    expect(isCommonPassword('correct horse battery staple')).to.equal(false);
    expect(passwordRuleBroken('short')!.rule).to.equal('min_length');
    expect(passwordRuleBroken('ñ'.repeat(40))!.rule).to.equal('max_length'); // 80 bytes
    expect(passwordRuleBroken('qwertyuiop')!.rule).to.equal('common_password');
    expect(passwordRuleBroken('maria.lopez-2026', 'maria.lopez@example.com')!.rule).to.equal('contains_email');
    expect(passwordRuleBroken('correct horse battery staple', 'maria.lopez@example.com')).to.equal(undefined);
  });
});
