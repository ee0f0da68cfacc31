import { expect } from 'chai';
import { parseStaffCommand, periodRange } from '../../domain/staff-commands';

describe('staff commands', () => {
  it('understands sales, bookings and commissions with a period and a branch, in Spanish and English', () => {
    expect(parseStaffCommand('ventas hoy')).to.deep.equal({ kind: 'sales', period: 'today', branch: null, language: 'es' });
    expect(parseStaffCommand('Ventas ayer')).to.deep.equal({ kind: 'sales', period: 'yesterday', branch: null, language: 'es' });
    expect(parseStaffCommand('ventas esta semana')).to.deep.equal({ kind: 'sales', period: 'week', branch: null, language: 'es' });
    expect(parseStaffCommand('ventas mes MAD')).to.deep.equal({ kind: 'sales', period: 'month', branch: 'MAD', language: 'es' });
    expect(parseStaffCommand('ventas hoy mad')).to.deep.equal({ kind: 'sales', period: 'today', branch: 'MAD', language: 'es' });
    expect(parseStaffCommand('sales this week MEX')).to.deep.equal({ kind: 'sales', period: 'week', branch: 'MEX', language: 'en' });
    expect(parseStaffCommand('sales')).to.deep.equal({ kind: 'sales', period: 'today', branch: null, language: 'en' });
    expect(parseStaffCommand('reservas')).to.deep.equal({ kind: 'bookings', period: 'today', branch: null, language: 'es' });
    expect(parseStaffCommand('bookings yesterday')).to.deep.equal({ kind: 'bookings', period: 'yesterday', branch: null, language: 'en' });
    expect(parseStaffCommand('comisiones')).to.deep.equal({ kind: 'commissions', period: 'month', branch: null, language: 'es' });
    expect(parseStaffCommand('Comisiónes del mes')).to.deep.equal({ kind: 'commissions', period: 'month', branch: null, language: 'es' });
    expect(parseStaffCommand('commissions today DXB')).to.deep.equal({ kind: 'commissions', period: 'today', branch: 'DXB', language: 'en' });
    expect(parseStaffCommand('¡alertas!')).to.deep.equal({ kind: 'alerts', language: 'es' });
    expect(parseStaffCommand('alerts')).to.deep.equal({ kind: 'alerts', language: 'en' });
  });

  it('answers help to anything else, in the language it looks like', () => {
    expect(parseStaffCommand('ayuda')).to.deep.equal({ kind: 'help', language: 'es', unknown: null });
    expect(parseStaffCommand('help')).to.deep.equal({ kind: 'help', language: 'en', unknown: null });
    expect(parseStaffCommand('hola qué tal')).to.deep.equal({ kind: 'help', language: 'es', unknown: 'hola qué tal' });
    expect(parseStaffCommand('hello there')).to.deep.equal({ kind: 'help', language: 'en', unknown: 'hello there' });
    expect(parseStaffCommand('')).to.deep.equal({ kind: 'help', language: 'es', unknown: null });
    expect(parseStaffCommand('ventas hoy MAD extra palabras')).to.include({ kind: 'help', language: 'es' });
  });

  it('spans a period in the branch\'s time zone', () => {
    const now = new Date('2026-12-02T10:30:00Z'); // a Wednesday; 11:30 in Madrid, 04:30 in Mexico City
    expect(periodRange('today', now, 'Europe/Madrid')).to.deep.equal({ from: new Date('2026-12-01T23:00:00Z'), to: now, firstDay: '2026-12-02' });
    expect(periodRange('today', now, 'America/Mexico_City')).to.deep.equal({ from: new Date('2026-12-02T06:00:00Z'), to: now, firstDay: '2026-12-02' });
    expect(periodRange('yesterday', now, 'Europe/Madrid')).to.deep.equal({ from: new Date('2026-11-30T23:00:00Z'), to: new Date('2026-12-01T23:00:00Z'), firstDay: '2026-12-01' });
    expect(periodRange('week', now, 'Europe/Madrid')).to.deep.equal({ from: new Date('2026-11-29T23:00:00Z'), to: now, firstDay: '2026-11-30' });
    expect(periodRange('month', now, 'Asia/Dubai')).to.deep.equal({ from: new Date('2026-11-30T20:00:00Z'), to: now, firstDay: '2026-12-01' });
    // Early on the 1st in Mexico City it is still November there.
    expect(periodRange('month', new Date('2026-12-01T03:00:00Z'), 'America/Mexico_City').firstDay).to.equal('2026-11-01');
  });
});
