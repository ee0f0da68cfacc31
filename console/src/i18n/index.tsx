/**
 * es and en throughout. Each screen owns its messages (defineMessages next to the screen), so
 * a missing translation is a type error there, not a blank label at run time. The language is
 * the user's choice (kept in localStorage), first guessed from the browser.
 */
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from 'react';

export type Lang = 'en' | 'es';
export const LANGS: readonly Lang[] = ['en', 'es'];

type Dict = Record<string, string>;
/** en is the reference; es must have exactly the same keys. */
export function defineMessages<E extends Dict>(messages: { en: E; es: { [K in keyof E]: string } }) {
  return messages as { en: E; es: Record<keyof E, string> };
}

interface LangState { lang: Lang; setLang: (lang: Lang) => void }
const LangContext = createContext<LangState>({ lang: 'en', setLang: () => undefined });

function initialLang(): Lang {
  const saved = typeof localStorage !== 'undefined' ? localStorage.getItem('spirit.lang') : null;
  if (saved === 'en' || saved === 'es') return saved;
  return typeof navigator !== 'undefined' && navigator.language?.toLowerCase().startsWith('es') ? 'es' : 'en';
}

export function LangProvider({ children }: { children: ReactNode }) {
  const [lang, setLangState] = useState<Lang>(initialLang);
  const setLang = useCallback((next: Lang) => {
    localStorage.setItem('spirit.lang', next);
    document.documentElement.lang = next;
    setLangState(next);
  }, []);
  if (typeof document !== 'undefined') document.documentElement.lang = lang;
  const value = useMemo(() => ({ lang, setLang }), [lang, setLang]);
  return <LangContext.Provider value={value}>{children}</LangContext.Provider>;
}

export function useLang(): LangState {
  return useContext(LangContext);
}

/** t(key, {name: 'Ana'}) replaces {name} in the message of the current language. */
export function useT<E extends Dict>(messages: { en: E; es: Record<keyof E, string> }) {
  const { lang } = useLang();
  return useCallback(
    (key: keyof E, vars?: Record<string, string | number>) => {
      let text: string = messages[lang][key] ?? messages.en[key];
      if (vars) for (const [name, value] of Object.entries(vars)) text = text.split(`{${name}}`).join(String(value));
      return text;
    },
    [lang, messages],
  );
}

const moneyFormats = new Map<string, Intl.NumberFormat>();
/** Integer minor units (as the API gives them) to a localised amount. */
export function formatMoney(minor: number, currency: string, lang: Lang): string {
  const key = `${lang}/${currency}`;
  let f = moneyFormats.get(key);
  if (!f) {
    f = new Intl.NumberFormat(lang === 'es' ? 'es-ES' : 'en-US', { style: 'currency', currency });
    moneyFormats.set(key, f);
  }
  const digits = f.resolvedOptions().maximumFractionDigits ?? 2;
  return f.format(minor / 10 ** digits);
}

export function formatDate(iso: string | null | undefined, lang: Lang, opts: Intl.DateTimeFormatOptions = { dateStyle: 'medium' }): string {
  if (!iso) return '—';
  return new Intl.DateTimeFormat(lang === 'es' ? 'es-ES' : 'en-US', opts).format(new Date(iso));
}

export function formatDateTime(iso: string | null | undefined, lang: Lang): string {
  return formatDate(iso, lang, { dateStyle: 'medium', timeStyle: 'short' });
}

/** A departure's date and time in its own time zone (the local time travellers go by), everywhere the console shows it. */
export function formatDeparture(iso: string | null | undefined, lang: Lang, timeZone?: string | null): string {
  return formatDate(iso, lang, { dateStyle: 'medium', timeStyle: 'short', ...(timeZone ? { timeZone } : {}) });
}
