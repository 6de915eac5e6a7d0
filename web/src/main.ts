// Placeholder entry for the PWA shell; the UI lands in a later issue.
const root = document.getElementById("root");
if (root !== null) {
  root.textContent = "Talkee";
}
