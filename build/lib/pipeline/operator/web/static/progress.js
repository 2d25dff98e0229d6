// The batches page: while a batch runs, ask the app where it stands every few seconds and
// update its row. Nothing but this site's own JSON endpoint is fetched.
"use strict";
(function () {
  const table = document.querySelector("table.batches");
  if (!table) return;
  const url = table.dataset.progress;
  const EVERY_MS = 3000;

  function update(batch) {
    const row = table.querySelector(`tr[data-batch="${batch.id}"]`);
    if (!row) return;
    row.dataset.state = batch.state;
    row.querySelector(".state").textContent = batch.state;
    const bar = row.querySelector("progress");
    bar.max = Math.max(batch.pages, 1);
    bar.value = batch.ended;
    const splitting = batch.ingesting ? ` (${batch.ingesting} files being split)` : "";
    row.querySelector(".ended").textContent = `${batch.ended} / ${batch.pages}${splitting}`;
    row.querySelector(".failed").textContent = String(batch.failed);
  }

  async function poll() {
    if (!table.querySelector('tr[data-state="running"]')) return;
    try {
      const answer = await fetch(url, { credentials: "same-origin", cache: "no-store" });
      if (answer.ok && answer.headers.get("content-type").startsWith("application/json")) {
        (await answer.json()).batches.forEach(update);
      }
    } finally {
      setTimeout(poll, EVERY_MS);
    }
  }
  setTimeout(poll, EVERY_MS);
})();
