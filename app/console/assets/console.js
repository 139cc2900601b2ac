// The console's only script (progressive enhancement: every page works without it). It copies a
// key shown once and puts the keyboard in the request-increase drawer when the banner opens it.
/* global document, navigator, getSelection, location, window */
const copyButtons = document.querySelectorAll("button[data-copy]");
for (const button of copyButtons) {
  button.addEventListener("click", async () => {
    const source = document.getElementById(button.dataset.copy);
    if (!source) return;
    try {
      await navigator.clipboard.writeText(source.textContent.trim());
      button.textContent = "Copied";
    } catch {
      const range = document.createRange();
      range.selectNodeContents(source);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      button.textContent = "Selected: press Ctrl+C";
    }
  });
}

function openDrawerFromHash() {
  if (location.hash !== "#request-increase") return;
  // Without this script the server renders the drawer open (?drawer=open); with it, the fields get focus.
  const drawer = document.getElementById("request-increase");
  if (!drawer) return;
  drawer.open = true;
  drawer.querySelector("select, textarea, input:not([type=hidden])")?.focus();
}
window.addEventListener("hashchange", openDrawerFromHash);
openDrawerFromHash();
