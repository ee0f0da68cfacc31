import { expect } from 'chai';
import { allocateRefund, amountDue, ledgerOf, overpaid } from '../../domain/ledger';
import { DEFAULT_BOOKING_RULES, parseBookingRules } from '../../domain/booking-rules';

describe('the ledger (domain/ledger.ts)', () => {
  const payments = [
    { id: 'p1', status: 'partially_refunded', amountMinor: 6000 },
    { id: 'p2', status: 'captured', amountMinor: 14000 },
    { id: 'p3', status: 'voided', amountMinor: 9999 },
    { id: 'p4', status: 'failed', amountMinor: 5000 },
  ];

  it('counts captured money minus refunds made or in flight; failed refunds and uncaptured payments count nothing', () => {
    const l = ledgerOf(payments, [
      { paymentId: 'p1', status: 'succeeded', amountMinor: 1000 },
      { paymentId: 'p1', status: 'pending', amountMinor: 500 },
      { paymentId: 'p2', status: 'failed', amountMinor: 14000 },
      { paymentId: 'p3', status: 'succeeded', amountMinor: 9999 }, // never captured: not ours to count
    ]);
    expect(l).to.deep.include({ capturedMinor: 20000, refundedMinor: 1500, netPaidMinor: 18500 });
    expect(l.refundable).to.deep.equal([{ paymentId: 'p1', leftMinor: 4500 }, { paymentId: 'p2', leftMinor: 14000 }]);
    expect(amountDue(20000, l)).to.equal(1500);
    expect(overpaid(15000, l)).to.equal(3500);
    expect(overpaid(20000, l)).to.equal(0);
  });

  it('spreads a refund newest payment first and never beyond what the ledger holds', () => {
    const l = ledgerOf(payments, [{ paymentId: 'p1', status: 'succeeded', amountMinor: 1000 }]);
    expect(allocateRefund(l, 16000)).to.deep.equal([{ paymentId: 'p2', amountMinor: 14000 }, { paymentId: 'p1', amountMinor: 2000 }]);
    expect(allocateRefund(l, 99999)).to.deep.equal([{ paymentId: 'p2', amountMinor: 14000 }, { paymentId: 'p1', amountMinor: 5000 }]);
    expect(allocateRefund(l, 0)).to.deep.equal([]);
  });

  it('gives the same answer for the same change twice: a second refund of everything finds nothing left', () => {
    const first = ledgerOf(payments, []);
    const plan = allocateRefund(first, first.netPaidMinor);
    const after = ledgerOf(payments, plan.map((p) => ({ ...p, status: 'succeeded' })));
    expect(after.netPaidMinor).to.equal(0);
    expect(allocateRefund(after, first.netPaidMinor)).to.deep.equal([]);
  });
});

describe('branch booking rules are validated (domain/booking-rules.ts)', () => {
  it('keeps valid values, replaces each bad one by its default and names it', () => {
    const { rules, timeScale, problems } = parseBookingRules({
      holdMinutes: 0.02, depositBp: 15000, refundTiers: [{ minDays: 10, refundBp: 5000 }], approvalExpiryOutcome: 'maybe', timeScale: 0.001, colour: 'blue',
    });
    expect(rules.holdMinutes).to.equal(0.02);
    expect(timeScale).to.equal(0.001);
    expect(rules.depositBp).to.equal(DEFAULT_BOOKING_RULES.depositBp);
    expect(rules.refundTiers).to.deep.equal(DEFAULT_BOOKING_RULES.refundTiers);
    expect(rules.approvalExpiryOutcome).to.equal('reject');
    expect(problems).to.have.length(4);
    expect(problems.join('; ')).to.match(/depositBp/).and.match(/refundTiers/).and.match(/approvalExpiryOutcome/).and.match(/unknown rule "colour"/);
  });

  it('refuses a timeScale outside (0, 1] and a non-object', () => {
    expect(parseBookingRules({ timeScale: 0 }).problems).to.have.length(1);
    expect(parseBookingRules({ timeScale: 2 }).timeScale).to.equal(undefined);
    expect(parseBookingRules([1, 2]).problems).to.deep.equal(['the rules must be a JSON object']);
    expect(parseBookingRules(null)).to.deep.equal({ rules: DEFAULT_BOOKING_RULES, problems: [] });
  });
});
