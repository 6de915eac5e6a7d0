/// <reference types="vite-plugin-pwa/client" />
// Entry point of the Talkee PWA.
import { registerSW } from "virtual:pwa-register";
import { applyLanguage, t } from "./i18n/index";
import { startApp } from "./ui/app";
import { applyTheme } from "./ui/theme";
import "./ui/styles.css";

applyTheme(); // before the first screen: no flash of the other theme
applyLanguage();
const root = document.getElementById("root");
if (root !== null) {
  startApp(root).catch((err: unknown) => {
    console.error(err);
    root.textContent = t("app.cannotStart");
  });
}

if ("serviceWorker" in navigator) {
  registerSW({ immediate: true });
  // A notification clicked while this tab is locked: remember where it leads (the chat, and
  // whether to answer its call) for when the vault is unlocked (ui/app.ts reads the hash).
  navigator.serviceWorker.addEventListener("message", (ev: MessageEvent<{ type?: string; notice?: { chat?: unknown }; action?: string }>) => {
    const chat = ev.data?.notice?.chat;
    if (ev.data?.type !== "talkee-open" || typeof chat !== "string" || ev.data.action === "decline") return;
    if (!/^#chat=/.test(location.hash) || ev.data.action === "answer") {
      history.replaceState(null, "", `/#chat=${chat}${ev.data.action === "answer" ? "&call=answer" : ""}`);
    }
  });
}
