/// <reference types="vite-plugin-pwa/client" />
// Entry point of the Talkee PWA.
import { registerSW } from "virtual:pwa-register";
import { startApp } from "./ui/app";
import "./ui/styles.css";

const root = document.getElementById("root");
if (root !== null) {
  startApp(root).catch((err: unknown) => {
    console.error(err);
    root.textContent = "Talkee could not start in this browser.";
  });
}

if ("serviceWorker" in navigator) {
  registerSW({ immediate: true });
}
