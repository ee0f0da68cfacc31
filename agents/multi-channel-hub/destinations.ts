/**
 * The places a message may name, built from the catalog's tours: each city (with its other
 * spellings), each country (its English and Spanish names), and each tour by the distinctive
 * words of its titles ("Prado", "cenotes", "safari"). Pure: the catalog comes in as data.
 */
import { normalize, type Destination } from './understand';

export interface CatalogTour {
  code: string;
  city: string;
  /** ISO 3166 alpha-2. */
  country: string;
  /** Its titles in every language. */
  titles: string[];
}

/** Other names people use for a city (keys and values normalized). */
const CITY_ALIASES: Record<string, string[]> = {
  'new york': ['nueva york', 'nyc', 'manhattan'],
  'chichen itza': ['chichen'],
  'abu dhabi': ['abu dabi'],
  jerusalem: ['jerusalen'],
  'tel aviv': ['jaffa', 'yafo', 'tel aviv yafo'],
  masada: ['dead sea', 'mar muerto'],
  'cold spring': ['hudson', 'hudson valley', 'valle del hudson'],
  tulum: ['cenotes'],
  'isla mujeres': [],
  toledo: [],
  madrid: [],
  dubai: ['dubay'],
  cancun: [],
};

/** Country names in English (the entity's name) and Spanish, with common short forms. */
const COUNTRIES: Record<string, { name: string; aliases: string[] }> = {
  US: { name: 'United States', aliases: ['united states', 'usa', 'us', 'estados unidos', 'eeuu', 'ee uu', 'america'] },
  MX: { name: 'Mexico', aliases: ['mexico', 'riviera maya', 'yucatan', 'cancun'] },
  ES: { name: 'Spain', aliases: ['spain', 'espana'] },
  AE: { name: 'United Arab Emirates', aliases: ['united arab emirates', 'uae', 'emirates', 'emiratos', 'emiratos arabes', 'emiratos arabes unidos'] },
  IL: { name: 'Israel', aliases: ['israel', 'tierra santa', 'holy land'] },
};

/** Title words that name no particular tour. */
const GENERIC = new Set(('tour tours trip day excursion excursiones city ciudad vieja viejo old grand gran early access acceso temprano masterpieces obras maestras '
  + 'market mercado flavours flavors sabores valley valle senderismo ruta gastronomica lower east side walk hike lights luces ruins ruinas sunset atardecer '
  + 'food with the and del los las por desde para and creek').split(' '));

export function catalogDestinations(tours: readonly CatalogTour[]): Destination[] {
  const byCity = new Map<string, Destination>();
  const byCountry = new Map<string, Destination>();
  for (const t of tours) {
    const cityKey = normalize(t.city).trim();
    const city = byCity.get(cityKey) ?? { name: t.city, kind: 'city' as const, aliases: [cityKey, ...(CITY_ALIASES[cityKey] ?? [])], tourCodes: [] };
    city.tourCodes.push(t.code);
    byCity.set(cityKey, city);
    const known = COUNTRIES[t.country];
    const country = byCountry.get(t.country) ?? { name: known?.name ?? t.country, kind: 'country' as const, aliases: known?.aliases ?? [], tourCodes: [] };
    country.tourCodes.push(t.code);
    byCountry.set(t.country, country);
  }
  const cityWords = new Set([...byCity.values()].flatMap((c) => c.aliases.flatMap((a) => [a, ...a.split(' ')])));
  // A title word of five letters or more that only one tour uses, and that is not a place already.
  const owners = new Map<string, Set<string>>();
  for (const t of tours) {
    for (const word of t.titles.flatMap((title) => normalize(title).trim().split(' '))) {
      if (word.length < 5 || GENERIC.has(word) || cityWords.has(word)) continue;
      owners.set(word, (owners.get(word) ?? new Set()).add(t.code));
    }
  }
  const tourDestinations: Destination[] = tours.map((t) => ({
    name: t.city, kind: 'tour' as const, tourCodes: [t.code],
    aliases: [...owners].filter(([, codes]) => codes.size === 1 && codes.has(t.code)).map(([word]) => word),
  })).filter((d) => d.aliases.length);
  return [...tourDestinations, ...byCity.values(), ...byCountry.values()];
}
