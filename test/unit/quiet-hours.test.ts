import { expect } from 'chai';
import { isQuietHour, localHour, parseQuietHours, quietUntil } from '../../domain/quiet-hours';

describe('quiet hours', () => {
  it('parses "21-9" and friends, and refuses nonsense', () => {
    expect(parseQuietHours('21-9')).to.deep.equal({ startHour: 21, endHour: 9 });
    expect(parseQuietHours(' 22:00 - 07:00 ')).to.deep.equal({ startHour: 22, endHour: 7 });
    expect(parseQuietHours('1-5')).to.deep.equal({ startHour: 1, endHour: 5 });
    for (const none of ['', 'none', 'off', undefined, '8-8']) expect(parseQuietHours(none)).to.equal(null);
    for (const bad of ['21', 'night', '25-3', '21-9-3']) expect(() => parseQuietHours(bad), bad).to.throw(/quiet hours/);
  });

  it('knows which hours are quiet, across midnight or not', () => {
    const night = parseQuietHours('21-9')!;
    expect([20, 21, 23, 0, 8, 9].map((h) => isQuietHour(h, night))).to.deep.equal([false, true, true, true, true, false]);
    const early = parseQuietHours('1-5')!;
    expect([0, 1, 4, 5].map((h) => isQuietHour(h, early))).to.deep.equal([false, true, true, false]);
  });

  it('says when the quiet hours around now end, in the person\'s time zone (DST included)', () => {
    const q = parseQuietHours('21-9');
    // 23:30 in Madrid (winter, UTC+1) → 09:00 Madrid the next day.
    expect(quietUntil(new Date('2026-12-01T22:30:00Z'), 'Europe/Madrid', q)!.toISOString()).to.equal('2026-12-02T08:00:00.000Z');
    // 03:15 in Mexico City (UTC-6) → 09:00 the same day.
    expect(quietUntil(new Date('2026-12-01T09:15:00Z'), 'America/Mexico_City', q)!.toISOString()).to.equal('2026-12-01T15:00:00.000Z');
    // The night the clocks go forward in New York (2026-03-08, 02:00 → 03:00): 22:00 EST → 09:00 EDT.
    expect(quietUntil(new Date('2026-03-08T03:00:00Z'), 'America/New_York', q)!.toISOString()).to.equal('2026-03-08T13:00:00.000Z');
    // Daytime in Madrid, or no quiet hours at all: nothing to wait for.
    expect(quietUntil(new Date('2026-12-01T11:00:00Z'), 'Europe/Madrid', q)).to.equal(null);
    expect(quietUntil(new Date('2026-12-01T22:30:00Z'), 'Europe/Madrid', null)).to.equal(null);
    expect(localHour(new Date('2026-12-01T22:30:00Z'), 'Asia/Dubai')).to.equal(2);
  });
});
