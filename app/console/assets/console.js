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

// The banner's link (/console?drawer=open) renders the drawer open with autofocus on its first field;
// a link to #request-increase from elsewhere on the page opens it here. (A URL with a fragment makes
// the browser skip autofocus, so the banner's link carries none.)
function openDrawerFromHash() {
  if (location.hash !== "#request-increase") return;
  const drawer = document.getElementById("request-increase");
  if (!drawer) return;
  drawer.open = true;
  drawer.querySelector("select, textarea, input:not([type=hidden])")?.focus();
}
window.addEventListener("hashchange", openDrawerFromHash);
openDrawerFromHash();
