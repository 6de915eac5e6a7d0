// Light and dark: the system's choice unless the person picked one on this device
// (Settings → Appearance). The resolved theme is set on <html data-theme> before the
// first screen is drawn, and follows the system while "System" is chosen.
export type ThemeChoice = "system" | "light" | "dark";

const KEY = "talkee.theme";
const DARK = "(prefers-color-scheme: dark)";
let stopFollowing: (() => void) | null = null;

export function themeChoice(): ThemeChoice {
  const stored = localStorage.getItem(KEY);
  return stored === "light" || stored === "dark" ? stored : "system";
}

function resolved(choice: ThemeChoice): "light" | "dark" {
  if (choice !== "system") return choice;
  return typeof matchMedia === "function" && matchMedia(DARK).matches ? "dark" : "light";
}

/** Applies this device's choice now, and keeps following the system while it is "system". */
export function applyTheme(choice: ThemeChoice = themeChoice()): void {
  const html = document.documentElement;
  html.dataset.theme = resolved(choice);
  stopFollowing?.();
  stopFollowing = null;
  if (choice === "system" && typeof matchMedia === "function") {
    const query = matchMedia(DARK);
    const follow = (): void => {
      html.dataset.theme = query.matches ? "dark" : "light";
    };
    query.addEventListener("change", follow);
    stopFollowing = () => query.removeEventListener("change", follow);
  }
}

export function chooseTheme(choice: ThemeChoice): void {
  if (choice === "system") localStorage.removeItem(KEY);
  else localStorage.setItem(KEY, choice);
  applyTheme(choice);
}
