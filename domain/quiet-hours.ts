/**
 * Quiet hours: the local hours of a person in which the platform does not start a conversation
 * with them (WHATSAPP_QUIET_HOURS, "21-9" = from 21:00 to 09:00 in their time zone; "" = none).
 * Pure: the caller passes "now" and the time zone; Intl does the zone arithmetic.
 */

export interface QuietHours {
  /** The local hour quiet starts (inclusive), 0–23. */
  startHour: number;
  /** The local hour it ends (exclusive), 0–23; lower than startHour when it spans midnight. */
  endHour: number;
}

/** "21-9" → {21, 9}; "" / "none" / "off" → null. Throws on anything else (a configuration error). */
export function parseQuietHours(spec: string | undefined | null): QuietHours | null {
  const s = (spec ?? '').trim().toLowerCase();
  if (!s || s === 'none' || s === 'off') return null;
  const m = /^(\d{1,2})(?::00)?\s*-\s*(\d{1,2})(?::00)?$/.exec(s);
  if (!m) throw new Error(`quiet hours must look like "21-9" (from 21:00 to 09:00 local time), got "${spec}"`);
  const startHour = Number(m[1]);
  const endHour = Number(m[2]) % 24;
  if (startHour > 24 || Number(m[2]) > 24) throw new Error(`quiet hours must be hours 0–24, got "${spec}"`);
  if (startHour % 24 === endHour) return null; // an empty span
  return { startHour: startHour % 24, endHour };
}

/** The local wall-clock parts of an instant in a time zone. */
function localParts(at: Date, timeZone: string): { year: number; month: number; day: number; hour: number; minute: number; second: number } {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  }).formatToParts(at);
  const get = (type: string) => Number(parts.find((p) => p.type === type)!.value);
  return { year: get('year'), month: get('month'), day: get('day'), hour: get('hour'), minute: get('minute'), second: get('second') };
}

/** The person's local hour now (0–23). */
export function localHour(now: Date, timeZone: string): number {
  return localParts(now, timeZone).hour;
}

/** Whether a local hour falls in the quiet span. */
export function isQuietHour(hour: number, q: QuietHours): boolean {
  return q.startHour < q.endHour ? hour >= q.startHour && hour < q.endHour : hour >= q.startHour || hour < q.endHour;
}

/**
 * When the quiet hours around `now` end (the first instant at `endHour`:00 local time after
 * `now`), or null when `now` is not in quiet hours. DST: the local clock is read back after the
 * jump, so a shifted night still ends at the local end hour.
 */
export function quietUntil(now: Date, timeZone: string, q: QuietHours | null): Date | null {
  if (!q) return null;
  const local = localParts(now, timeZone);
  if (!isQuietHour(local.hour, q)) return null;
  const hoursLeft = (q.endHour - local.hour + 24) % 24 || 24;
  let until = new Date(now.getTime() + hoursLeft * 3_600_000 - (local.minute * 60 + local.second) * 1000 - (now.getTime() % 1000));
  // A DST change in between moves the local clock by an hour: correct towards the end hour.
  for (let i = 0; i < 2; i++) {
    const h = localParts(until, timeZone).hour;
    if (h === q.endHour) break;
    const diff = ((q.endHour - h + 36) % 24) - 12; // -12..11, the short way round
    until = new Date(until.getTime() + diff * 3_600_000);
  }
  return until;
}
