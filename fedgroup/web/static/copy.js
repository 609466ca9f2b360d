// Progressive enhancement: a "Copy" button next to the group's handle, shown only where the
// browser lets a page write to the clipboard. Without JavaScript the handle stays selectable.
"use strict";
for (const button of document.querySelectorAll("button[data-copy]")) {
  const source = document.getElementById(button.dataset.copy);
  const status = document.getElementById(button.dataset.status);
  if (!source || !status || !navigator.clipboard || !window.isSecureContext) continue;
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(source.textContent.trim());
      status.textContent = button.dataset.done;
    } catch {
      status.textContent = button.dataset.failed;
    }
  });
}
