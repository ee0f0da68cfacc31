/**
 * The demo data `npm start` loads: five branches, their tours with departures over the coming
 * months, one user per role, partners of every kind, customers. Idempotent: every row has a
 * natural key and is inserted with "on conflict do nothing", so a second run changes nothing
 * and never overwrites what an operator edited. Never runs with NODE_ENV=production.
 */
import type { Knex } from 'knex';
import { hashPassword } from '../services/passwords';
import { addDays, zonedTimeToUtc } from '../platform/time';

export const DEMO_PASSWORD = 'spirit-demo';
export const DEMO_USERS = [
  { email: 'admin@demo.test', role: 'admin', name: 'Ada Admin' },
  { email: 'operator@demo.test', role: 'operator', name: 'Olga Operator' },
  { email: 'marketer@demo.test', role: 'marketer', name: 'Marco Marketer' },
  { email: 'accountant@demo.test', role: 'accountant', name: 'Aurora Accountant' },
  { email: 'partner@demo.test', role: 'partner', name: 'Pablo Partner' },
  { email: 'customer@demo.test', role: 'customer', name: 'Carmen López' },
] as const;

const BRANCHES = [
  { code: 'NYC', name: 'Spirit Tours New York', country: 'US', timezone: 'America/New_York', currency: 'USD', tax_rate_bp: 888, tax_id_type: 'EIN', invoice_prefix: 'NYC' },
  { code: 'CUN', name: 'Spirit Tours Cancún', country: 'MX', timezone: 'America/Cancun', currency: 'MXN', tax_rate_bp: 1600, tax_id_type: 'RFC', invoice_prefix: 'CUN' },
  { code: 'MAD', name: 'Spirit Tours Madrid', country: 'ES', timezone: 'Europe/Madrid', currency: 'EUR', tax_rate_bp: 2100, tax_id_type: 'NIF', invoice_prefix: 'MAD' },
  { code: 'DXB', name: 'Spirit Tours Dubai', country: 'AE', timezone: 'Asia/Dubai', currency: 'AED', tax_rate_bp: 500, tax_id_type: 'TRN', invoice_prefix: 'DXB' },
  { code: 'TLV', name: 'Spirit Tours Tel Aviv', country: 'IL', timezone: 'Asia/Jerusalem', currency: 'ILS', tax_rate_bp: 1800, tax_id_type: 'VAT', invoice_prefix: 'TLV' },
];

interface DemoTour {
  code: string; branch: string; category: string; city: string; country: string; hours: number;
  capacity: number; adult: number; time: string; everyDays: number; lat: number; lng: number;
  en: [string, string]; es: [string, string];
}

/** The ground operator of each demo tour (SupplyChain matches supplier incidents on it). */
const SUPPLIER_OF: Record<string, string> = {
  'NYC-HARBOR': 'Liberty Harbor Cruises', 'NYC-FOOD': 'Big Apple Guides', 'NYC-HUDSON': 'Hudson Valley Coaches',
  'CUN-CENOTES': 'Riviera Maya Transportes', 'CUN-CHICHEN': 'Riviera Maya Transportes', 'CUN-ISLA': 'Caribe Ferries',
  'MAD-PRADO': 'Guías de Madrid', 'MAD-TAPAS': 'Guías de Madrid', 'MAD-TOLEDO': 'Autocares Castilla',
  'DXB-DESERT': 'Dune Safari LLC', 'DXB-OLD': 'Creek Walks', 'DXB-ABUDHABI': 'Emirates Coach Lines',
  'TLV-JERUSALEM': 'Holy Land Coaches', 'TLV-DEADSEA': 'Holy Land Coaches', 'TLV-JAFFA': 'Jaffa Bites',
};
/** Day tours of 6 hours or more need this many passengers by the guarantee deadline, this many days before they start. */
const MIN_DEPARTURE_PAX = 4;
const GUARANTEE_DAYS_BEFORE = 2;

const TOURS: DemoTour[] = [
  { code: 'NYC-HARBOR', branch: 'NYC', category: 'city', city: 'New York', country: 'US', hours: 3, capacity: 40, adult: 8900, time: '10:00', everyDays: 2, lat: 40.7033, lng: -74.017,
    en: ['Harbor Lights Cruise', 'Statue of Liberty and the skyline from the water at dusk.'], es: ['Crucero Luces del Puerto', 'La Estatua de la Libertad y el skyline desde el agua al atardecer.'] },
  { code: 'NYC-FOOD', branch: 'NYC', category: 'food', city: 'New York', country: 'US', hours: 4, capacity: 14, adult: 12900, time: '11:30', everyDays: 3, lat: 40.7209, lng: -73.9961,
    en: ['Lower East Side Food Walk', 'Dumplings, bagels and pickles with a local historian.'], es: ['Ruta Gastronómica del Lower East Side', 'Dumplings, bagels y encurtidos con un historiador local.'] },
  { code: 'NYC-HUDSON', branch: 'NYC', category: 'nature', city: 'Cold Spring', country: 'US', hours: 9, capacity: 20, adult: 18900, time: '08:00', everyDays: 7, lat: 41.4201, lng: -73.9546,
    en: ['Hudson Valley Hike', 'A day in the highlands above the river, lunch included.'], es: ['Senderismo en el Valle del Hudson', 'Un día en las colinas sobre el río, almuerzo incluido.'] },
  { code: 'CUN-CENOTES', branch: 'CUN', category: 'adventure', city: 'Tulum', country: 'MX', hours: 8, capacity: 24, adult: 189000, time: '08:30', everyDays: 2, lat: 20.2114, lng: -87.4654,
    en: ['Cenotes and Tulum Ruins', 'Swim in three cenotes and walk the cliffside Maya city.'], es: ['Cenotes y Ruinas de Tulum', 'Nada en tres cenotes y recorre la ciudad maya sobre el acantilado.'] },
  { code: 'CUN-CHICHEN', branch: 'CUN', category: 'culture', city: 'Chichén Itzá', country: 'MX', hours: 12, capacity: 45, adult: 249000, time: '07:00', everyDays: 3, lat: 20.6843, lng: -88.5678,
    en: ['Chichén Itzá Early Access', 'Arrive before the crowds, with a Maya archaeologist.'], es: ['Chichén Itzá Acceso Temprano', 'Llega antes que las multitudes, con un arqueólogo maya.'] },
  { code: 'CUN-ISLA', branch: 'CUN', category: 'nature', city: 'Isla Mujeres', country: 'MX', hours: 7, capacity: 30, adult: 159000, time: '09:00', everyDays: 4, lat: 21.2325, lng: -86.7317,
    en: ['Isla Mujeres Catamaran', 'Snorkel the reef and lunch on the beach.'], es: ['Catamarán a Isla Mujeres', 'Snorkel en el arrecife y comida en la playa.'] },
  { code: 'MAD-PRADO', branch: 'MAD', category: 'culture', city: 'Madrid', country: 'ES', hours: 3, capacity: 20, adult: 5900, time: '10:00', everyDays: 2, lat: 40.4138, lng: -3.6921,
    en: ['Prado Masterpieces', 'Velázquez, Goya and El Greco with an art historian.'], es: ['Obras Maestras del Prado', 'Velázquez, Goya y El Greco con una historiadora del arte.'] },
  { code: 'MAD-TAPAS', branch: 'MAD', category: 'food', city: 'Madrid', country: 'ES', hours: 3, capacity: 12, adult: 7500, time: '19:30', everyDays: 1, lat: 40.4153, lng: -3.7074,
    en: ['Tapas in La Latina', 'Four taverns, eight tapas, one long Madrid evening.'], es: ['Tapas por La Latina', 'Cuatro tabernas, ocho tapas y una larga noche madrileña.'] },
  { code: 'MAD-TOLEDO', branch: 'MAD', category: 'culture', city: 'Toledo', country: 'ES', hours: 8, capacity: 35, adult: 8900, time: '09:00', everyDays: 3, lat: 39.8628, lng: -4.0273,
    en: ['Toledo Day Trip', 'The city of three cultures, its cathedral and synagogues.'], es: ['Excursión a Toledo', 'La ciudad de las tres culturas, su catedral y sinagogas.'] },
  { code: 'DXB-DESERT', branch: 'DXB', category: 'adventure', city: 'Dubai', country: 'AE', hours: 6, capacity: 30, adult: 35000, time: '15:00', everyDays: 1, lat: 25.0657, lng: 55.1713,
    en: ['Desert Safari at Sunset', 'Dune drive, camel ride and dinner under the stars.'], es: ['Safari por el Desierto al Atardecer', 'Dunas en 4x4, paseo en camello y cena bajo las estrellas.'] },
  { code: 'DXB-OLD', branch: 'DXB', category: 'culture', city: 'Dubai', country: 'AE', hours: 3, capacity: 16, adult: 22000, time: '09:30', everyDays: 2, lat: 25.2637, lng: 55.2972,
    en: ['Old Dubai and the Creek', 'Abra ride, spice souk and Al Fahidi quarter.'], es: ['El Viejo Dubái y el Creek', 'Paseo en abra, zoco de especias y barrio de Al Fahidi.'] },
  { code: 'DXB-ABUDHABI', branch: 'DXB', category: 'city', city: 'Abu Dhabi', country: 'AE', hours: 10, capacity: 40, adult: 42000, time: '08:00', everyDays: 3, lat: 24.4128, lng: 54.4749,
    en: ['Abu Dhabi Grand Tour', 'Sheikh Zayed Mosque and the Louvre Abu Dhabi.'], es: ['Gran Tour de Abu Dabi', 'La Mezquita Sheikh Zayed y el Louvre Abu Dabi.'] },
  { code: 'TLV-JERUSALEM', branch: 'TLV', category: 'culture', city: 'Jerusalem', country: 'IL', hours: 9, capacity: 30, adult: 52000, time: '08:00', everyDays: 2, lat: 31.7767, lng: 35.2345,
    en: ['Jerusalem Old City', 'Four quarters, the Western Wall and the Holy Sepulchre.'], es: ['Ciudad Vieja de Jerusalén', 'Los cuatro barrios, el Muro Occidental y el Santo Sepulcro.'] },
  { code: 'TLV-DEADSEA', branch: 'TLV', category: 'nature', city: 'Masada', country: 'IL', hours: 11, capacity: 40, adult: 61000, time: '06:30', everyDays: 3, lat: 31.3156, lng: 35.3536,
    en: ['Masada and the Dead Sea', 'Sunrise on the fortress, then float in the Dead Sea.'], es: ['Masada y el Mar Muerto', 'Amanecer en la fortaleza y flotar en el Mar Muerto.'] },
  { code: 'TLV-JAFFA', branch: 'TLV', category: 'food', city: 'Tel Aviv', country: 'IL', hours: 3, capacity: 12, adult: 29000, time: '17:00', everyDays: 2, lat: 32.0543, lng: 34.7516,
    en: ['Jaffa Market Flavours', 'Hummus, spices and the flea market at golden hour.'], es: ['Sabores del Mercado de Jaffa', 'Hummus, especias y el mercadillo a la hora dorada.'] },
];

const PARTNERS = [
  { code: 'ANDES-TO', name: 'Andes Tour Operator', kind: 'tour_operator', branch: 'MAD', commission_bp: 1000, payment_terms_days: 30, statement_period: 'monthly', credit_limit_minor: 5000000, parent: null },
  { code: 'SOL-AGENCY', name: 'Viajes Sol Agency', kind: 'travel_agency', branch: 'MAD', commission_bp: 800, payment_terms_days: 15, statement_period: 'fortnightly', credit_limit_minor: 1500000, parent: null },
  { code: 'ANDES-SUB', name: 'Andes Sub-agency Valencia', kind: 'travel_agency', branch: 'MAD', commission_bp: 800, payment_terms_days: 15, statement_period: 'fortnightly', credit_limit_minor: 500000, parent: 'ANDES-TO' },
  { code: 'WANDER-RS', name: 'Wanderly (white label)', kind: 'reseller', branch: 'NYC', commission_bp: 1500, payment_terms_days: 30, statement_period: 'contract', credit_limit_minor: 2000000, parent: null },
  { code: 'GULF-TO', name: 'Gulf Horizons Tours', kind: 'tour_operator', branch: 'DXB', commission_bp: 1000, payment_terms_days: 30, statement_period: 'monthly', credit_limit_minor: 10000000, parent: null },
] as const;

const CUSTOMERS = [
  ['Carmen', 'López', 'customer@demo.test', '+34600111222', 'es', 'ES'],
  ['James', 'Carter', 'james.carter@example.com', '+12125550101', 'en', 'US'],
  ['Sofía', 'Hernández', 'sofia.hernandez@example.com', '+529981234567', 'es', 'MX'],
  ['Noa', 'Levi', 'noa.levi@example.com', '+972501234567', 'en', 'IL'],
  ['Omar', 'Haddad', 'omar.haddad@example.com', '+971501234567', 'en', 'AE'],
  ['Lucía', 'Martín', 'lucia.martin@example.com', '+34611222333', 'es', 'ES'],
  ['Emily', 'Chen', 'emily.chen@example.com', '+14155550123', 'en', 'US'],
  ['Diego', 'Ramírez', 'diego.ramirez@example.com', '+525512345678', 'es', 'MX'],
] as const;

export interface SeedOptions {
  /** The day departures start from (YYYY-MM-DD); default today. */
  today?: string;
  /** How many days of departures to create. */
  horizonDays?: number;
  bcryptRounds?: number;
}

export interface SeedReport { branches: number; tours: number; departures: number; users: number }

export async function seedDemo(knex: Knex, options: SeedOptions = {}): Promise<SeedReport> {
  if (process.env.NODE_ENV === 'production') throw new Error('the demo seed never runs with NODE_ENV=production');
  const today = options.today ?? new Date().toISOString().slice(0, 10);
  const horizon = options.horizonDays ?? 120;
  const report: SeedReport = { branches: 0, tours: 0, departures: 0, users: 0 };

  await knex.transaction(async (trx) => {
    const inserted = <T>(rows: T[]) => rows.length;
    report.branches = inserted(await trx('branches').insert(BRANCHES).onConflict('code').ignore().returning('id'));
    const branches = new Map<string, { id: string; currency: string; timezone: string }>(
      (await trx('branches').select('id', 'code', 'currency', 'timezone')).map((b) => [b.code, b]),
    );

    for (const p of PARTNERS) {
      const parent = p.parent ? await trx('partners').where({ code: p.parent }).first('id') : undefined;
      const branch = branches.get(p.branch)!;
      await trx('partners')
        .insert({ code: p.code, name: p.name, kind: p.kind, branch_id: branch.id, parent_partner_id: parent?.id ?? null,
          commission_bp: p.commission_bp, payment_terms_days: p.payment_terms_days, statement_period: p.statement_period,
          credit_limit_minor: p.credit_limit_minor, currency: branch.currency })
        .onConflict('code').ignore();
    }

    for (const [first, last, email, phone, language, country] of CUSTOMERS) {
      const branch = [...branches.values()][CUSTOMERS.findIndex((c) => c[2] === email) % branches.size];
      await trx.raw(
        `insert into customers (first_name, last_name, email, phone, language, country, branch_id, consent_email_marketing, consent_whatsapp)
         values (?, ?, ?, ?, ?, ?, ?, true, ?) on conflict do nothing`,
        [first, last, email, phone, language, country, branch.id, language === 'es'],
      );
    }

    for (const t of TOURS) {
      const branch = branches.get(t.branch)!;
      const [row] = await trx('tours')
        .insert({
          code: t.code, branch_id: branch.id, category: t.category, destination_city: t.city, destination_country: t.country,
          duration_minutes: t.hours * 60, status: 'active', min_pax: 1, max_pax: Math.min(t.capacity, 12), currency: branch.currency,
          supplier: SUPPLIER_OF[t.code] ?? null, min_departure_pax: t.hours >= 6 ? MIN_DEPARTURE_PAX : null,
          meeting_lat: t.lat, meeting_lng: t.lng, inclusions: ['guide', ...(t.hours >= 6 ? ['lunch', 'transport'] : [])],
          accessibility: t.category === 'city' || t.category === 'culture' ? ['wheelchair_accessible'] : [],
          sustainability: { transportLegs: [{ mode: t.hours >= 6 ? 'coach' : 'walk', km: t.hours >= 6 ? 120 : 4 }], localSuppliersShare: 0.8 },
          // Dynamic pricing (RevenueMaximizer): the published price is the floor, up to +25% when demand runs ahead of the default curve.
          price_floor_bp: 10000, price_ceiling_bp: 12500,
        })
        .onConflict('code').ignore().returning('id');
      if (!row) continue; // already seeded: leave it as operators may have changed it
      report.tours++;
      const tourId = row.id as string;
      const content = { en: t.en, es: t.es };
      await trx('tour_translations').insert(
        (['en', 'es'] as const).map((language) => ({
          tour_id: tourId, language, title: content[language][0], summary: content[language][1],
          description: `${content[language][1]} ${language === 'es' ? 'Grupos reducidos y guía local.' : 'Small groups and a local guide.'}`,
          itinerary: JSON.stringify([{ title: language === 'es' ? 'Encuentro' : 'Meet', detail: t.city }]),
          meeting_point: t.city,
        })),
      );
      await trx('tour_prices').insert([
        { tour_id: tourId, pax_type: 'adult', amount_minor: t.adult, min_age: 12, max_age: null },
        { tour_id: tourId, pax_type: 'child', amount_minor: Math.round(t.adult * 0.6), min_age: 3, max_age: 11 },
        { tour_id: tourId, pax_type: 'infant', amount_minor: 0, min_age: 0, max_age: 2 },
      ]);
    }

    const tours = await trx('tours').whereIn('code', TOURS.map((t) => t.code)).select('id', 'code');
    const departures = [];
    for (const tour of tours) {
      const t = TOURS.find((x) => x.code === tour.code)!;
      const tz = branches.get(t.branch)!.timezone;
      for (let day = 1; day <= horizon; day += t.everyDays) {
        const startsAt = zonedTimeToUtc(addDays(today, day), t.time, tz);
        const guarantee = t.hours >= 6 ? new Date(+startsAt - GUARANTEE_DAYS_BEFORE * 86_400_000) : null;
        departures.push({ tour_id: tour.id, starts_at: startsAt, timezone: tz, capacity: t.capacity, guarantee_deadline: guarantee });
      }
    }
    for (let i = 0; i < departures.length; i += 500) {
      const rows = await trx('departures').insert(departures.slice(i, i + 500)).onConflict(['tour_id', 'starts_at']).ignore().returning('id');
      report.departures += rows.length;
    }

    const existing = new Set((await trx('users').whereIn('email', DEMO_USERS.map((u) => u.email)).select('email')).map((u) => u.email));
    const missing = DEMO_USERS.filter((u) => !existing.has(u.email));
    if (missing.length) {
      const hash = await hashPassword(DEMO_PASSWORD, options.bcryptRounds ?? 10); // bcrypt, as the API verifies it
      const mad = branches.get('MAD')!.id;
      const partner = await trx('partners').where({ code: 'SOL-AGENCY' }).first('id');
      const customer = await trx('customers').whereRaw('lower(email) = ?', ['customer@demo.test']).first('id');
      for (const u of missing) {
        await trx('users').insert({
          email: u.email, name: u.name, role: u.role, password_hash: hash,
          branch_id: u.role === 'operator' || u.role === 'accountant' ? mad : null,
          partner_id: u.role === 'partner' ? partner.id : null,
          customer_id: u.role === 'customer' ? customer.id : null,
        }).onConflict().ignore();
        report.users++;
      }
    }
  });
  // Fresh rows without statistics make the planner guess; autovacuum would get there later.
  if (report.departures > 0) await knex.raw('analyze');
  return report;
}
