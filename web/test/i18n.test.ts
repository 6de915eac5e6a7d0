// The interface's two languages: the same keys, the right plural forms, the browser's
// languages deciding unless this device chose, dates in the chosen locale.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { en } from "../src/i18n/en";
import { chooseLanguage, formatTime, language, languageChoice, resetLanguage, systemLanguage, t } from "../src/i18n/index";
import { ru } from "../src/i18n/ru";
import { deviceActivity, formatSeconds } from "../src/app/format";
import { ApiError, humanError } from "../src/api/client";
import type { CallView } from "../src/calls/callView";
import { stateLine } from "../src/ui/call";

/** A minimal localStorage for Node (the browser's is per origin; this one per test). */
function fakeStorage(): Storage {
  const items = new Map<string, string>();
  return {
    get length() {
      return items.size;
    },
    clear: () => items.clear(),
    getItem: (k) => items.get(k) ?? null,
    key: (i) => [...items.keys()][i] ?? null,
    removeItem: (k) => void items.delete(k),
    setItem: (k, v) => void items.set(k, String(v)),
  };
}

let languages: string[] = ["en-US"];

beforeEach(() => {
  Object.defineProperty(globalThis, "localStorage", { value: fakeStorage(), configurable: true });
  Object.defineProperty(globalThis, "navigator", { value: { get languages() { return languages; }, get language() { return languages[0]; } }, configurable: true });
  languages = ["en-US"];
  resetLanguage();
});

afterEach(() => resetLanguage());

function as(tags: string[]): void {
  languages = tags;
  resetLanguage();
}

describe("catalogs", () => {
  it("Russian has every English key and no other, a plural where English has one", () => {
    expect(Object.keys(ru).sort()).toEqual(Object.keys(en).sort());
    for (const key of Object.keys(en) as (keyof typeof en)[]) {
      expect(typeof ru[key], key).toBe(typeof en[key]);
      const placeholders = (v: unknown): string[] => [...JSON.stringify(v).matchAll(/\{(\w+)\}/g)].map((m) => m[1]!).filter((p, i, all) => all.indexOf(p) === i).sort();
      expect(placeholders(ru[key]), key).toEqual(placeholders(en[key]));
      expect(ru[key], key).not.toBe("");
    }
  });

  it("every Russian plural has the forms Russian counts with", () => {
    for (const [key, value] of Object.entries(ru)) {
      if (typeof value === "string" || key === "conv.typing") continue;
      expect(Object.keys(value).sort(), key).toEqual(["few", "many", "one", "other"]);
    }
  });
});

describe("plurals", () => {
  it("Russian: 1 сообщение, 2 сообщения, 5 сообщений, 21 сообщение, 11 сообщений", () => {
    as(["ru-RU"]);
    const waiting = (n: number): string => t("banner.waiting", { count: n });
    expect(waiting(1)).toBe("1 сообщение ждёт отправки");
    expect(waiting(2)).toBe("2 сообщения ждут отправки");
    expect(waiting(5)).toBe("5 сообщений ждут отправки");
    expect(waiting(21)).toBe("21 сообщение ждёт отправки");
    expect(waiting(11)).toBe("11 сообщений ждут отправки");
    expect(waiting(24)).toBe("24 сообщения ждут отправки");
    expect(formatSeconds(3600)).toBe("1 час");
    expect(formatSeconds(3 * 86400)).toBe("3 дня");
    expect(formatSeconds(5 * 604800)).toBe("5 недель");
  });

  it("English: 1 message, 2 messages; the texts the browser tests look for", () => {
    expect(t("banner.waiting", { count: 1 })).toBe("1 message waiting");
    expect(t("banner.waiting", { count: 2 })).toBe("2 messages waiting");
    expect(t("conv.sendFiles", { count: 1 })).toBe("Send file");
    expect(t("conv.sendFiles", { count: 3 })).toBe("Send 3 files");
    expect(formatSeconds(3600)).toBe("1 hour");
    expect(formatSeconds(7200)).toBe("2 hours");
    expect(formatSeconds(90)).toBe("90 s");
    expect(deviceActivity(new Date(Date.now() - 3 * 86400_000).toISOString(), Date.now(), false)).toBe("active 3 days ago");
  });
});

describe("which language", () => {
  it("follows the browser's first language Talkee speaks", () => {
    expect(systemLanguage(["ru-RU", "en-US"])).toBe("ru");
    expect(systemLanguage(["de-DE", "ru"])).toBe("ru");
    expect(systemLanguage(["de-DE", "en-GB", "ru"])).toBe("en");
    expect(systemLanguage(["fr-FR"])).toBe("en");
    as(["ru-RU", "en"]);
    expect(language()).toBe("ru");
    expect(t("onboarding.createAccount")).toBe("Создать учётную запись");
  });

  it("a choice on this device wins over the browser, and 'system' goes back to it", () => {
    as(["ru-RU"]);
    chooseLanguage("en");
    resetLanguage(); // the choice applies from the next load
    expect(languageChoice()).toBe("en");
    expect(t("onboarding.createAccount")).toBe("Create account");
    chooseLanguage("system");
    resetLanguage();
    expect(languageChoice()).toBe("system");
    expect(language()).toBe("ru");
  });

  it("the client's error sentences are in the language; a server message without a known code stays as sent", () => {
    const wrong = new ApiError(401, "invalid_credentials", "Invalid credentials.");
    expect(humanError(wrong)).toBe("Wrong username or password.");
    as(["ru-RU"]);
    expect(humanError(wrong)).toBe("Неверное имя пользователя или пароль.");
    expect(humanError(new ApiError(400, "something_new", "The server's words."))).toBe("The server's words.");
  });

  it("a call's end reason from the calls layer is shown in the language", () => {
    const ended = (reason: string): string => stateLine({ phase: "ended", reason } as CallView);
    expect(ended("Missed call")).toBe("Call ended · Missed call");
    expect(ended("Call ended")).toBe("Call ended");
    as(["ru"]);
    expect(ended("Missed call")).toBe("Звонок завершён · Пропущенный звонок");
    expect(ended("Could not use the microphone or camera (NotAllowedError).")).toBe("Звонок завершён · Could not use the microphone or camera (NotAllowedError).");
  });

  it("fills placeholders and leaves unknown ones", () => {
    expect(t("settings.revokeName", { name: "Laptop #3" })).toBe("Revoke Laptop #3");
    expect(t("settings.revokeName")).toBe("Revoke {name}");
  });
});

describe("dates and times", () => {
  it("a time today is the clock time in the language's locale; another day has its date", () => {
    const at = new Date(2026, 2, 5, 14, 5).getTime();
    as(["ru-RU"]);
    expect(formatTime(at, at)).toBe("14:05");
    expect(formatTime(at, at + 2 * 86400_000)).toBe("05.03.2026 14:05");
    as(["en-US"]);
    expect(formatTime(at, at)).toBe("02:05 PM");
    expect(formatTime(at, at + 2 * 86400_000)).toBe("3/5/2026 02:05 PM");
    // A German browser reads English (Talkee has no German) with its own dates.
    as(["de-DE"]);
    expect(t("conv.send")).toBe("Send");
    expect(formatTime(at, at + 2 * 86400_000)).toBe("5.3.2026 14:05");
    // English picked by hand on a Russian browser: English dates.
    as(["ru-RU"]);
    chooseLanguage("en");
    resetLanguage();
    expect(formatTime(at, at)).toBe("02:05 PM");
  });
});

describe("a navigator without languages (the CLI's stand-in)", () => {
  it("falls back to English instead of failing", () => {
    vi.stubGlobal("navigator", { languages: [], language: undefined });
    try {
      expect(systemLanguage()).toBe("en");
    } finally {
      vi.unstubAllGlobals();
    }
  });
});
