import { expect } from 'chai';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';

describe('catalog', () => {
  it('walks every departure of a filter with cursor pagination, in order, without duplicates', async () => {
    const expected = await stack().knex('departures as d').join('tours as t', 't.id', 'd.tour_id')
      .where('t.destination_country', 'ES').whereIn('d.status', ['scheduled', 'guaranteed']).where('d.starts_at', '>=', new Date())
      .count<{ count: number }[]>('* as count');
    const seen: string[] = [];
    let last = '';
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: any = await api('GET', `/api/v1/departures?country=es&limit=37${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).to.equal(200);
      for (const d of res.body.data) {
        expect(d.tour.destination.country).to.equal('ES');
        expect(d.startsAt >= last).to.equal(true);
        last = d.startsAt;
        seen.push(d.id);
      }
      cursor = res.body.nextCursor;
      expect(res.body.hasMore).to.equal(cursor !== null);
      pages++;
    } while (cursor);
    expect(pages).to.be.greaterThan(2);
    expect(new Set(seen).size).to.equal(seen.length);
    expect(seen.length).to.equal(Number(expected[0].count));
  });

  it('filters departures by destination, category, dates and free seats', async () => {
    const from = new Date(Date.now() + 10 * 86400_000).toISOString().slice(0, 10);
    const to = new Date(Date.now() + 20 * 86400_000).toISOString().slice(0, 10);
    const res = await api('GET', `/api/v1/departures?destination=mad&category=food&from=${from}&to=${to}&minSeats=5&limit=100`);
    expect(res.status).to.equal(200);
    expect(res.body.data.length).to.be.greaterThan(0);
    for (const d of res.body.data) {
      expect(d.tour.destination.city).to.equal('Madrid');
      expect(d.tour.category).to.equal('food');
      expect(d.startsAt >= `${from}T00:00:00.000Z` && d.startsAt < `${to}T00:00:00.000Z`).to.equal(true);
      expect(d.seatsAvailable).to.be.at.least(5);
    }
  });

  it('leaves out departures without enough free seats', async () => {
    const tour = await stack().knex('tours').where({ code: 'MAD-TAPAS' }).first();
    const departure = await stack().knex('departures').where({ tour_id: tour.id }).orderBy('starts_at').offset(5).first();
    await stack().knex('departures').where({ id: departure.id }).update({ seats_sold: departure.capacity - 2 });
    const day = new Date(departure.starts_at).toISOString().slice(0, 10);
    const next = new Date(new Date(departure.starts_at).getTime() + 86400_000).toISOString().slice(0, 10);
    const few = await api('GET', `/api/v1/departures?tourId=${tour.id}&from=${day}&to=${next}&minSeats=3`);
    expect(few.body.data.map((d: any) => d.id)).to.not.include(departure.id);
    const enough = await api('GET', `/api/v1/departures?tourId=${tour.id}&from=${day}&to=${next}&minSeats=2`);
    expect(enough.body.data.map((d: any) => d.id)).to.include(departure.id);
    expect(enough.body.data.find((d: any) => d.id === departure.id).seatsAvailable).to.equal(2);
  });

  it('serves Spanish and English, by lang or Accept-Language', async () => {
    const tour = await stack().knex('tours').where({ code: 'MAD-PRADO' }).first();
    const es = await api('GET', `/api/v1/tours/${tour.id}?lang=es`);
    expect(es.body.title).to.equal('Obras Maestras del Prado');
    expect(es.headers.get('content-language')).to.equal('es');
    const en = await api('GET', `/api/v1/tours/${tour.id}`, { headers: { 'accept-language': 'en-GB,en;q=0.8' } });
    expect(en.body.title).to.equal('Prado Masterpieces');
    const negotiated = await api('GET', `/api/v1/tours/${tour.id}`, { headers: { 'accept-language': 'es-MX,es;q=0.9' } });
    expect(negotiated.body.language).to.equal('es');
    expect(es.body.prices.map((p: any) => p.paxType)).to.deep.equal(['adult', 'child', 'infant']);
    expect(es.body.meetingPoint.lat).to.be.closeTo(40.4138, 1e-4);
  });

  it('lists tours with filters and pages by code', async () => {
    const res = await api('GET', '/api/v1/tours?branch=tlv&limit=2');
    expect(res.status).to.equal(200);
    expect(res.body.data).to.have.length(2);
    expect(res.body.hasMore).to.equal(true);
    const next = await api('GET', `/api/v1/tours?branch=tlv&limit=2&cursor=${res.body.nextCursor}`);
    expect(next.body.data).to.have.length(1);
    expect(next.body.hasMore).to.equal(false);
    const codes = [...res.body.data, ...next.body.data].map((t: any) => t.code);
    expect(codes).to.deep.equal(['TLV-DEADSEA', 'TLV-JAFFA', 'TLV-JERUSALEM']);
  });

  it('shows partners their net rates and nobody else', async () => {
    const pub = await api('GET', '/api/v1/departures?country=ES&limit=1');
    expect(pub.body.data[0].prices[0]).to.not.have.property('netAmount');
    const partner = await api('GET', '/api/v1/departures?country=ES&limit=1', { token: await loginAs('partner') });
    const adult = partner.body.data[0].prices[0];
    // The demo partner is a travel agency at 8%.
    expect(adult.netAmount).to.equal(adult.amount - Math.round(adult.amount * 0.08));
  });

  it('shows staff seats held and sold', async () => {
    const staff = await api('GET', '/api/v1/departures?limit=1', { token: await loginAs('operator') });
    expect(staff.body.data[0]).to.have.property('seatsSold');
    const pub = await api('GET', '/api/v1/departures?limit=1');
    expect(pub.body.data[0]).to.not.have.property('seatsSold');
  });

  it('answers 404 for an unknown id and 400 for a malformed one or a bad cursor', async () => {
    const missing = await api('GET', '/api/v1/departures/00000000-0000-4000-8000-000000000000');
    expect(missing.status).to.equal(404);
    expect(missing.body.code).to.equal('resource_missing');
    const malformed = await api('GET', '/api/v1/tours/not-a-uuid');
    expect(malformed.status).to.equal(400);
    expect(malformed.body.errors[0]).to.include({ location: 'path', param: 'id' });
    const cursor = await api('GET', '/api/v1/departures?cursor=garbage');
    expect(cursor.status).to.equal(400);
    expect(cursor.body.code).to.equal('invalid_cursor');
    const range = await api('GET', '/api/v1/departures?from=2030-01-10&to=2030-01-01');
    expect(range.status).to.equal(400);
    expect(range.body.errors[0].param).to.equal('to');
    const lang = await api('GET', '/api/v1/tours?lang=fr&limit=500');
    expect(lang.status).to.equal(400);
    expect(lang.body.errors.map((e: any) => e.param).sort()).to.deep.equal(['lang', 'limit']);
    // A misspelt filter is refused, not ignored (it would answer with every departure).
    const typo = await api('GET', '/api/v1/departures?destinaton=madrid');
    expect(typo.status).to.equal(400);
    expect(typo.body.errors[0]).to.include({ location: 'query', param: 'destinaton' });
    expect(typo.body.detail).to.match(/destination/);
    const none = await api('GET', '/api/v1/departures/00000000-0000-4000-8000-000000000000?lang=es&x=1');
    expect(none.status).to.equal(400);
    expect(none.body.errors.map((e: any) => e.param)).to.deep.equal(['x']);
  });

  it('lets operators schedule departures for their own branch only, with clear refusals', async () => {
    const operator = await loginAs('operator'); // a Madrid operator
    const mad = await stack().knex('tours').where({ code: 'MAD-TOLEDO' }).first();
    const nyc = await stack().knex('tours').where({ code: 'NYC-FOOD' }).first();
    const body = { startsAt: '2031-03-01T08:00:00Z', capacity: 18, priceOverrides: { adult: 9900 } };
    const created = await api('POST', `/api/v1/tours/${mad.id}/departures`, { token: operator, body });
    expect(created.status).to.equal(201);
    expect(created.body).to.include({ capacity: 18, seatsAvailable: 18, timezone: 'Europe/Madrid' });
    expect(created.body.prices[0]).to.include({ paxType: 'adult', amount: 9900 });
    expect(created.headers.get('location')).to.equal(`/api/v1/departures/${created.body.id}`);

    const again = await api('POST', `/api/v1/tours/${mad.id}/departures`, { token: operator, body });
    expect(again.status).to.equal(409);
    expect(again.body.code).to.equal('departure_exists');

    const otherBranch = await api('POST', `/api/v1/tours/${nyc.id}/departures`, { token: operator, body });
    expect(otherBranch.status).to.equal(403);
    const admin = await api('POST', `/api/v1/tours/${nyc.id}/departures`, { token: await loginAs('admin'), body });
    expect(admin.status).to.equal(201);

    const past = await api('POST', `/api/v1/tours/${mad.id}/departures`, { token: operator, body: { startsAt: '2020-01-01T08:00:00Z', capacity: 5 } });
    expect(past.status).to.equal(400);
    expect(past.body.param).to.equal('startsAt');
    const bad = await api('POST', `/api/v1/tours/${mad.id}/departures`, { token: operator, body: { startsAt: 'tomorrow', capacity: 0, timezone: 'Mars/Base', extra: 1 } });
    expect(bad.status).to.equal(400);
    expect(bad.body.errors.map((e: any) => e.param).sort()).to.include.members(['startsAt', 'capacity', 'timezone']);
    const count = await stack().knex('departures').where({ tour_id: mad.id, starts_at: new Date('2020-01-01T08:00:00Z') }).count<{ count: number }[]>('* as count');
    expect(Number(count[0].count)).to.equal(0);
  });
});

describe('catalog cache', () => {
  it('answers repeated anonymous reads from a one-second cache, and never caches for staff', async () => {
    const from = new Date(Date.now() + Math.floor(Math.random() * 1000)).toISOString();
    const url = `/api/v1/departures?country=AE&limit=3&from=${encodeURIComponent(from)}`;
    const first = await api('GET', url);
    expect(first.status).to.equal(200);
    expect(first.headers.get('x-cache')).to.equal('miss');
    const departure = first.body.data[0];
    await stack().knex('departures').where({ id: departure.id }).increment('seats_sold', 1);
    const second = await api('GET', url);
    expect(second.headers.get('x-cache')).to.equal('hit');
    expect(second.headers.get('cache-control')).to.equal('public, max-age=1');
    expect(second.body.data[0].seatsAvailable).to.equal(departure.seatsAvailable); // up to 1 s stale, by design
    const staff = await api('GET', url, { token: await loginAs('operator') });
    expect(staff.headers.get('x-cache')).to.equal(null);
    expect(staff.body.data[0].seatsAvailable).to.equal(departure.seatsAvailable - 1);
    await new Promise((r) => setTimeout(r, 1100));
    const later = await api('GET', url);
    expect(later.headers.get('x-cache')).to.equal('miss');
    expect(later.body.data[0].seatsAvailable).to.equal(departure.seatsAvailable - 1);
  });
});
