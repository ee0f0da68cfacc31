import { expect } from 'chai';
import type { Principal } from '../../api/auth';
import { consoleEventSchema, mayReceive, type ConsoleEvent } from '../../api/live-events';

const BRANCH = 'b1';
const who = (role: Principal['role'], extra: Partial<Principal> = {}): Principal => ({ userId: `u-${role}`, role, branchId: null, partnerId: null, customerId: null, ...extra });
const admin = who('admin');
const operator = who('operator', { branchId: BRANCH });
const accountant = who('accountant', { branchId: BRANCH });
const branchlessAccountant = who('accountant');
const marketer = who('marketer');
const partner = who('partner', { partnerId: 'p1' });
const customer = who('customer', { customerId: 'c1' });
const everyone = [admin, operator, accountant, branchlessAccountant, marketer, partner, customer];

/** Who among everyone receives the event, by role (branchless accountant as 'accountant0'). */
const receivers = (e: ConsoleEvent) => everyone.filter((p) => mayReceive(p, e)).map((p) => (p === branchlessAccountant ? 'accountant0' : p.role));

describe('who receives which console event (mayReceive)', () => {
  it('a booking: admin; operator and accountant of its branch; its partner; its customer', () => {
    const e: ConsoleEvent = { kind: 'booking', id: 'bk', bookingId: 'bk', branchId: BRANCH, partnerId: 'p1', customerId: 'c1', type: 'held' };
    expect(receivers(e)).to.deep.equal(['admin', 'operator', 'accountant', 'partner', 'customer']);
  });

  it('another branch\'s booking of another partner and customer: admin only', () => {
    const e: ConsoleEvent = { kind: 'booking', id: 'bk', branchId: 'b2', partnerId: 'p2', customerId: 'c2' };
    expect(receivers(e)).to.deep.equal(['admin']);
  });

  it('an operator also hears of the bookings they created in another branch (as the bookings list shows them)', () => {
    const e: ConsoleEvent = { kind: 'booking', id: 'bk', branchId: 'b2', createdBy: operator.userId };
    expect(receivers(e)).to.deep.equal(['admin', 'operator']);
  });

  it('a partner without partner id, or a customer without customer id, matches no booking without one', () => {
    const e: ConsoleEvent = { kind: 'booking', id: 'bk', branchId: 'b2' };
    expect(mayReceive(who('partner'), e)).to.equal(false);
    expect(mayReceive(who('customer'), e)).to.equal(false);
    expect(mayReceive(who('accountant'), e)).to.equal(false); // no branch: never all
  });

  it('an approval: admin, operator and accountant of its branch; an agent action of no branch: operators too', () => {
    expect(receivers({ kind: 'approval', id: 'a', branchId: BRANCH, type: 'refund', bookingId: 'bk' })).to.deep.equal(['admin', 'operator', 'accountant']);
    expect(receivers({ kind: 'approval', id: 'a', branchId: 'b2', type: 'refund' })).to.deep.equal(['admin']);
    expect(receivers({ kind: 'approval', id: 'a', type: 'agent_action' })).to.deep.equal(['admin', 'operator']);
  });

  it('campaigns and contact imports: admin and marketers', () => {
    expect(receivers({ kind: 'campaign', id: 'c', campaignId: 'c' })).to.deep.equal(['admin', 'marketer']);
    expect(receivers({ kind: 'contact_import', id: 'i', status: 'running' })).to.deep.equal(['admin', 'marketer']);
  });

  it('a conversation: admin and operators when unassigned; only the assignee\'s branch once assigned', () => {
    expect(receivers({ kind: 'conversation', id: 'cv', conversationId: 'cv' })).to.deep.equal(['admin', 'operator']);
    expect(receivers({ kind: 'conversation', id: 'cv', conversationId: 'cv', branchId: BRANCH })).to.deep.equal(['admin', 'operator']);
    expect(receivers({ kind: 'conversation', id: 'cv', conversationId: 'cv', branchId: 'b2' })).to.deep.equal(['admin']);
  });

  it('a check-in: admin, operator and accountant of the departure\'s branch', () => {
    expect(receivers({ kind: 'checkin', id: 'd', departureId: 'd', branchId: BRANCH })).to.deep.equal(['admin', 'operator', 'accountant']);
    expect(receivers({ kind: 'checkin', id: 'd', departureId: 'd', branchId: 'b2' })).to.deep.equal(['admin']);
  });

  it('the payload schema takes what the triggers write and refuses other kinds', () => {
    expect(consoleEventSchema.safeParse({ kind: 'booking', id: 'x', bookingId: 'x', type: 'held', branchId: 'b' }).success).to.equal(true);
    expect(consoleEventSchema.safeParse({ kind: 'payroll', id: 'x' }).success).to.equal(false);
    expect(consoleEventSchema.safeParse({ kind: 'booking' }).success).to.equal(false);
  });
});
