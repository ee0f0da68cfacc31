/** Who may decide a refund approval: an accountant of the booking's branch; an operator may only see it. */
import { expect } from 'chai';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';
import { bookingStatus, hold, scenario } from '../support/bookings';

describe('approvals by role', function () {
  this.timeout(60_000);

  /** A paid booking of the demo MAD branch (where the operator and the accountant work), cancelled late: its refund awaits approval. */
  async function pendingApproval() {
    const { knex } = stack();
    const s = await scenario({ daysAhead: 2.5, adultMinor: 10000 });
    const mad = await knex('branches').where({ code: 'MAD' }).first('id');
    await knex('tours').where({ id: s.tourId }).update({ branch_id: mad.id });
    const customer = await loginAs('customer');
    const booking = await hold(customer, s.departureId, 1);
    expect((await knex('bookings').where({ id: booking.id }).first()).branch_id).to.equal(mad.id);
    const paid = await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token: customer, body: { paymentMethod: 'pm_card_visa' } });
    expect(paid.status, JSON.stringify(paid.body)).to.equal(201);
    const pending = await api('POST', `/api/v1/bookings/${booking.id}/cancel`, { token: customer, body: { reason: 'ill' } });
    expect(pending.status, JSON.stringify(pending.body)).to.equal(202);
    return { booking, approvalId: pending.body.approvalId as string, refund: pending.body.refund.amount as number };
  }

  it('an operator lists the branch\'s pending approval but may not decide it; an accountant approves it and the refund is made', async () => {
    const { knex } = stack();
    const { booking, approvalId, refund } = await pendingApproval();
    const operator = await loginAs('operator');
    const accountant = await loginAs('accountant');

    const listed = await api('GET', '/api/v1/approvals?status=pending', { token: operator });
    expect(listed.status).to.equal(200);
    expect(listed.body.data.map((a: any) => a.id)).to.include(approvalId);
    for (const action of ['approve', 'reject']) {
      const denied = await api('POST', `/api/v1/approvals/${approvalId}/${action}`, { token: operator, body: {} });
      expect(denied.status, action).to.equal(403);
      expect(denied.headers.get('content-type')).to.contain('problem+json');
    }
    expect((await knex('approvals').where({ id: approvalId }).first()).status).to.equal('pending');
    expect(await bookingStatus(booking.id)).to.equal('paid_in_full');

    const approved = await api('POST', `/api/v1/approvals/${approvalId}/approve`, { token: accountant, body: { note: 'doctor\'s note seen' } });
    expect(approved.status, JSON.stringify(approved.body)).to.equal(200);
    expect(approved.body).to.include({ status: 'approved', bookingStatus: 'cancelled' });
    const row = await knex('approvals').where({ id: approvalId }).first();
    const accountantUser = await knex('users').where({ email: 'accountant@demo.test' }).first('id');
    expect(row).to.include({ status: 'approved', decided_by_user_id: accountantUser.id, decision_note: 'doctor\'s note seen' });
    expect((await knex('bookings').where({ id: booking.id }).first()).amount_refunded_minor).to.equal(refund);
  });

  it('an accountant rejects: the booking stays paid; an accountant of another branch does not even see it', async () => {
    const { knex } = stack();
    const { booking, approvalId } = await pendingApproval();
    const accountant = await loginAs('accountant');
    // The same approval moved to another branch is not the accountant's to see or decide.
    const other = await knex('branches').whereNot({ code: 'MAD' }).first('id');
    const own = (await knex('approvals').where({ id: approvalId }).first()).branch_id;
    await knex('approvals').where({ id: approvalId }).update({ branch_id: other.id });
    try {
      expect((await api('POST', `/api/v1/approvals/${approvalId}/reject`, { token: accountant, body: {} })).status).to.equal(404);
      const listed = await api('GET', '/api/v1/approvals?status=pending', { token: accountant });
      expect(listed.body.data.map((a: any) => a.id)).to.not.include(approvalId);
    } finally {
      await knex('approvals').where({ id: approvalId }).update({ branch_id: own });
    }
    const rejected = await api('POST', `/api/v1/approvals/${approvalId}/reject`, { token: accountant, body: { note: 'no' } });
    expect(rejected.status, JSON.stringify(rejected.body)).to.equal(200);
    expect(rejected.body).to.include({ status: 'rejected', bookingStatus: 'paid_in_full' });
    expect(await bookingStatus(booking.id)).to.equal('paid_in_full');
    expect((await knex('bookings').where({ id: booking.id }).first()).amount_refunded_minor).to.equal(0);
  });
});
