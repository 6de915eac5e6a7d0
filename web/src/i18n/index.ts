// The interface's language: English or Russian. What the person chose on this device
// (Settings → Language), else the browser's languages (ru… → Russian, else English).
// Every user-visible string is in ./en.ts (and its Russian in ./ru.ts); t() picks one,
// fills its {placeholders} and, for counts, the plural form of the language.
import { en, type Catalog, type Plural } from "./en";
import { ru } from "./ru";

export type Language = "en" | "ru";
export type LanguageChoice = "system" | Language;
export type Key = keyof Catalog;
export type Params = Record<string, string | number>;

const KEY = "talkee.language";
const CATALOGS: Record<Language, Catalog> = { en, ru };

function storage(): Storage | null {
  try {
    return typeof localStorage === "undefined" ? null : localStorage;
  } catch {
    return null; // storage refused (privacy settings): the browser's languages decide
  }
}

export function languageChoice(): LanguageChoice {
  const stored = storage()?.getItem(KEY);
  return stored === "en" || stored === "ru" ? stored : "system";
}

function browserLanguages(): readonly string[] {
  if (typeof navigator === "undefined") return [];
  // A stand-in navigator (the CLI's, web/cli/env.ts) may have neither.
  const tags: readonly unknown[] = navigator.languages?.length ? navigator.languages : [navigator.language];
  return tags.filter((tag): tag is string => typeof tag === "string");
}

/** The first of the browser's languages that Talkee speaks; English when none is. */
export function systemLanguage(languages: readonly string[] = browserLanguages()): Language {
  for (const tag of languages) {
    const base = tag.toLowerCase().split("-")[0];
    if (base === "ru" || base === "en") return base;
  }
  return "en";
}

let current: Language | null = null;

export function language(): Language {
  if (current === null) {
    const choice = languageChoice();
    current = choice === "system" ? systemLanguage() : choice;
  }
  return current;
}

/** Keeps this device's choice; the screens already drawn keep their language until the next load. */
export function chooseLanguage(choice: LanguageChoice): void {
  if (choice === "system") storage()?.removeItem(KEY);
  else storage()?.setItem(KEY, choice);
}

/** Sets <html lang> before the first screen (screen readers, hyphenation, the date pickers). */
export function applyLanguage(): void {
  document.documentElement.lang = language();
}

/** For tests: the language as if the page were loaded now. */
export function resetLanguage(): void {
  current = null;
  pluralRules = null;
}

/**
 * The locale dates, times and numbers are written in: the browser's own variant of the
 * language when it has one (en-GB, ru-RU); a browser in another language that Talkee
 * does not speak (English shown) keeps its own way of writing dates (de-DE); a language
 * picked by hand that the browser does not list, its plain form.
 */
export function locale(): string {
  const lang = language();
  const tags = browserLanguages();
  const own = tags.find((tag) => tag.toLowerCase().split("-")[0] === lang);
  if (own !== undefined) return own;
  return languageChoice() === "system" ? (tags[0] ?? lang) : lang;
}

let pluralRules: Intl.PluralRules | null = null;

function fill(text: string, params: Params | undefined): string {
  if (params === undefined) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => (name in params ? String(params[name]) : whole));
}

/** The text of `key` in the interface's language; `{name}` is replaced by params.name; a plural picks its form by params.count. */
export function t(key: Key, params?: Params): string {
  const entry: string | Plural = CATALOGS[language()][key];
  if (typeof entry === "string") return fill(entry, params);
  pluralRules ??= new Intl.PluralRules(language());
  const count = Number(params?.["count"] ?? 0);
  return fill(entry[pluralRules.select(count)] ?? entry.other, params);
}

/** A time of day, "14:05" / "2:05 PM", in the interface's locale. */
export function formatClock(ms: number, options: Intl.DateTimeFormatOptions = { hour: "2-digit", minute: "2-digit" }): string {
  return new Date(ms).toLocaleTimeString(locale(), options);
}

/** A date in the interface's locale (the locale's short form unless options say otherwise). */
export function formatDate(ms: number, options?: Intl.DateTimeFormatOptions): string {
  return new Date(ms).toLocaleDateString(locale(), options);
}

/** A message's time: the clock time today, else the date and the time. */
export function formatTime(ms: number, now: number = Date.now()): string {
  const time = formatClock(ms);
  return new Date(ms).toDateString() === new Date(now).toDateString() ? time : `${formatDate(ms)} ${time}`;
}

/** A member's role as the server names it (owner, admin, member), in the interface's language. */
export function roleName(role: string | null | undefined): string {
  if (role === "owner") return t("conv.roleOwner");
  if (role === "admin") return t("conv.roleAdmin");
  return role === "member" || role === null || role === undefined ? t("conv.member") : role;
}
