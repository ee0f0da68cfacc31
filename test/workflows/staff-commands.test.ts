/**
 * Staff commands on WhatsApp, end to end (receiveInbound → the conversation workflow → the
 * simulator): an allowlisted number asking "ventas hoy" gets the figure of a booking paid in the
 * test, from the ledger, never a MultiChannelHub run; the same words from any other number go to
 * the customer hub; a branch-scoped user asking for another branch, and a role without access,
 * are refused politely; an admin sees any branch, in English when asked in English.
 */
import { expect } from 'chai';
import crypto from 'node:crypto';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';
import { eventually, holdBody, scenario } from '../support/bookings';
import { receiveInbound, waitForDecision } from '../../services/conversations';
import { simulatorOutbox } from '../../integrations/whatsapp/simulator';

const phone = () => `+3479${crypto.randomInt(1_000_000, 9_999_999)}`;

async function staffUser(role: string, branchId: string | null, extra: Record<string, unknown> = {}) {
  const { knex } = stack();
  const [user] = await knex('users').insert({
    email: `staff.${crypto.randomBytes(5).toString('hex')}@spirit.test`, name: `Staff ${role}`, password_hash: 'not-a-login', role, branch_id: branchId, ...extra,
  }).returning('id');
  const number = phone();
  await knex('staff_phones').insert({ phone: number, user_id: user.id });
  return number;
}

/** Sends a WhatsApp message as `from` and waits for the platform's answer in the simulator. */
async function ask(from: string, text: string): Promise<{ answer: string; messageId: string }> {
  const { knex, temporal } = stack();
  const before = (await simulatorOutbox(knex, from)).length;
  const inbound = await receiveInbound(temporal, knex, { channel: 'whatsapp', from, to: 'simulator', text, messageId: `wamid.staff-${crypto.randomUUID()}`, verified: true, timeZone: 'Europe/Madrid' });
  const out = await eventually(async () => {
    const all = await simulatorOutbox(knex, from);
    return all.length > before ? all[before] : undefined;
  }, 45_000, 200);
  expect(out.message.kind).to.equal('text');
  return { answer: (out.message as { text: string }).text, messageId: inbound.messageId };
}

const eur = (minor: number, locale: string) => new Intl.NumberFormat(locale, { style: 'currency', currency: 'EUR' }).format(minor / 100);

describe('staff commands on WhatsApp', function () {
  this.timeout(120_000);
  let branch: { id: string; code: string };
  let paidMinor: number;

  before(async () => {
    const { knex } = stack();
    const s = await scenario({ daysAhead: 20, adultMinor: 8650 });
    branch = await knex('branches').where({ id: s.branchId }).first('id', 'code');
    const token = await loginAs('admin');
    const held = await api('POST', '/api/v1/bookings', { token, body: { ...holdBody(s.departureId, 2), contact: { name: 'Pablo Sanz', email: `staff-sale.${Date.now()}@example.com` } } });
    expect(held.status, JSON.stringify(held.body)).to.equal(201);
    const paid = await api('POST', `/api/v1/bookings/${held.body.id}/payments`, { token, body: { paymentMethod: 'pm_card_visa' } });
    expect(paid.status, JSON.stringify(paid.body)).to.equal(201);
    const payments = await eventually(async () => {
      const rows = await knex('payments').where({ booking_id: held.body.id, status: 'captured' });
      return rows.length ? rows : undefined;
    });
    paidMinor = payments.reduce((sum: number, p: { amount_minor: number }) => sum + Number(p.amount_minor), 0);
    expect(paidMinor).to.equal(2 * 8650);
  });

  it('answers "ventas hoy" from an allowlisted operator with the branch\'s sales from the ledger, not through the hub', async () => {
    const number = await staffUser('operator', branch.id);
    const { answer, messageId } = await ask(number, 'ventas hoy');
    expect(answer).to.equal(`Ventas hoy:\n• ${branch.code}: ${eur(paidMinor, 'es-ES')} (1 cobro)`);
    const stored = await stack().knex('conversation_messages').where({ id: messageId }).first();
    expect(stored).to.include({ text: 'ventas hoy', intent: 'staff', routed_to: 'staff', agent_run_id: null });
    expect(await stack().knex('agent_runs').where({ agent: 'MultiChannelHub' }).whereRaw(`input->>'messageId' = ?`, [messageId])).to.have.length(0);
    const reply = await stack().knex('conversation_messages').where({ reply_to_id: messageId }).first();
    expect(reply).to.include({ author: 'bot', delivery_status: 'sent', text: answer });

    // Bookings, and help for anything else.
    expect((await ask(number, 'reservas')).answer).to.equal(`Reservas hoy:\n• ${branch.code}: 1 nuevas, 1 vendidas (2 pax, ${eur(paidMinor, 'es-ES')})`);
    expect((await ask(number, 'hola')).answer).to.match(/^No entiendo «hola»\.\nComandos de equipo:/);
  });

  it('sends the same words from a number not on the allowlist to the customer hub', async () => {
    const { knex, temporal } = stack();
    const inbound = await receiveInbound(temporal, knex, { channel: 'whatsapp', from: phone(), to: 'simulator', text: 'ventas hoy', messageId: `wamid.cust-${crypto.randomUUID()}`, verified: true });
    const decision = await waitForDecision(knex, inbound.messageId, 45_000);
    expect(decision, 'the hub decided').to.not.equal(null);
    expect(decision!.routedTo).to.not.equal('staff');
    expect(decision!.reply ?? '').to.not.contain(eur(paidMinor, 'es-ES'));
    const stored = await knex('conversation_messages').where({ id: inbound.messageId }).first();
    expect(stored.agent_run_id).to.equal(inbound.runId);
    expect(stored.agent_run_id).to.match(/MultiChannelHub/);
  });

  it('refuses a branch-scoped user asking for another branch, and a role without access', async () => {
    const number = await staffUser('operator', branch.id);
    expect((await ask(number, 'ventas hoy MAD')).answer).to.equal(`Lo siento: solo puedes consultar la sucursal ${branch.code}, no MAD.`);
    const customer = await stack().knex('customers').whereRaw('lower(email) = ?', ['customer@demo.test']).first('id');
    const outsider = await staffUser('customer', null, { customer_id: customer.id });
    expect((await ask(outsider, 'ventas hoy')).answer).to.equal('Lo siento, Staff customer: tu perfil (customer) no tiene acceso a estas cifras.');
  });

  it('lets an admin ask for any branch, in English', async () => {
    const number = await staffUser('admin', null);
    expect((await ask(number, `sales today ${branch.code.toLowerCase()}`)).answer).to.equal(`Sales today:\n• ${branch.code}: ${eur(paidMinor, 'en-GB')} (1 payment)`);
    expect((await ask(number, 'alerts')).answer).to.match(/^Alerts\nPending approvals: \d+\nSecurity alerts \(7 days\): \d+/);
  });
});
