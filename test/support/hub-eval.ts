/**
 * Scores agents/multi-channel-hub/understand.ts on a labelled file of messages
 * (test/fixtures/hub-messages*.json) against the demo catalog's destinations.
 * `npx tsx test/support/hub-eval.ts [file...]` prints the accuracies and the misses.
 */
import fs from 'node:fs';
import path from 'node:path';
import { catalogDestinations } from '../../agents/multi-channel-hub/destinations';
import { understand, type Intent, type Language } from '../../agents/multi-channel-hub/understand';
import { TOURS } from '../../scripts/demo-seed';

export interface Labelled {
  text: string;
  language: Language;
  intent: Intent;
  destination: string | null;
  partySize: number | null;
  dates: { from: string; to: string } | null;
}

export const demoDestinations = () => catalogDestinations(TOURS.map((t) => ({ code: t.code, city: t.city, country: t.country, titles: [t.en[0], t.es[0]] })));

export function loadLabelled(file: string): { now: Date; messages: Labelled[] } {
  const raw = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../fixtures', file), 'utf8'));
  return { now: new Date(raw.now), messages: raw.messages };
}

export interface Score { n: number; language: number; intent: number; destination: number; partySize: number; dates: number; allEntities: number; misses: string[] }

export function evaluate(file: string): Score {
  const { now, messages } = loadLabelled(file);
  const destinations = demoDestinations();
  const ok = { language: 0, intent: 0, destination: 0, partySize: 0, dates: 0, allEntities: 0 };
  const misses: string[] = [];
  for (const m of messages) {
    const u = understand(m.text, { now, destinations });
    const got = {
      language: u.language, intent: u.intent, destination: u.entities.destination?.name ?? null, partySize: u.entities.partySize,
      dates: u.entities.dates ? { from: u.entities.dates.from, to: u.entities.dates.to } : null,
    };
    const hit = {
      language: got.language === m.language, intent: got.intent === m.intent, destination: got.destination === m.destination,
      partySize: got.partySize === m.partySize, dates: JSON.stringify(got.dates) === JSON.stringify(m.dates),
    };
    for (const k of Object.keys(hit) as Array<keyof typeof hit>) if (hit[k]) ok[k] += 1;
    if (hit.destination && hit.partySize && hit.dates) ok.allEntities += 1;
    const wrong = (Object.keys(hit) as Array<keyof typeof hit>).filter((k) => !hit[k]);
    if (wrong.length) misses.push(`${m.text}\n   ${wrong.map((k) => `${k}: got ${JSON.stringify(got[k])} want ${JSON.stringify(m[k])}`).join('; ')}  (${u.confidence})`);
  }
  const n = messages.length;
  const rate = (x: number) => Math.round((x / n) * 1000) / 1000;
  return { n, language: rate(ok.language), intent: rate(ok.intent), destination: rate(ok.destination), partySize: rate(ok.partySize), dates: rate(ok.dates), allEntities: rate(ok.allEntities), misses };
}

if (require.main === module) {
  for (const file of process.argv.slice(2).length ? process.argv.slice(2) : ['hub-messages.json']) {
    const { misses, ...score } = evaluate(file);
    console.log(file, JSON.stringify(score));
    if (process.env.MISSES !== '0') for (const m of misses) console.log(' -', m);
  }
}
