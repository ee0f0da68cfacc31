import { expect } from 'chai';
import { addDays, isValidTimeZone, zonedTimeToUtc } from '../../platform/time';

describe('zoned time', () => {
  it('converts wall-clock times to UTC across offsets and DST', () => {
    expect(zonedTimeToUtc('2026-07-01', '10:00', 'Europe/Madrid').toISOString()).to.equal('2026-07-01T08:00:00.000Z');
    expect(zonedTimeToUtc('2026-12-01', '10:00', 'Europe/Madrid').toISOString()).to.equal('2026-12-01T09:00:00.000Z');
    expect(zonedTimeToUtc('2026-03-08', '08:00', 'America/New_York').toISOString()).to.equal('2026-03-08T12:00:00.000Z');
    expect(zonedTimeToUtc('2026-03-07', '08:00', 'America/New_York').toISOString()).to.equal('2026-03-07T13:00:00.000Z');
    expect(zonedTimeToUtc('2026-01-15', '15:00', 'Asia/Dubai').toISOString()).to.equal('2026-01-15T11:00:00.000Z');
  });

  it('adds days across month ends and validates zones', () => {
    expect(addDays('2026-12-30', 3)).to.equal('2027-01-02');
    expect(isValidTimeZone('Asia/Jerusalem')).to.equal(true);
    expect(isValidTimeZone('Mars/Base')).to.equal(false);
  });
});
