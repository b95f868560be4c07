// Progressive enhancement only: the copy buttons. Without JavaScript they stay hidden and the link is selectable text.
"use strict";
document.querySelectorAll("button[data-copy]").forEach((button) => {
  const source = document.getElementById(button.dataset.copy);
  const status = button.parentElement.querySelector("[role=status]");
  if (!source || !navigator.clipboard) return;
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(source.value);
      if (status) status.textContent = "Link copied.";
    } catch {
      source.select();
      if (status) status.textContent = "Press Ctrl+C (or ⌘C) to copy the selected link.";
    }
  });
});
