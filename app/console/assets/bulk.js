// The bulk upload page's script: sends the chosen CSV file to POST /v1/bulk-jobs as the signed-in
// console (its session cookie and the page's CSRF token), follows the job's progress until it ends
// and links its results CSV. What the browser can tell before sending (no file, an empty file, a file
// over the size limit) is said at once, without uploading; the API's answer explains the rest.
/* global document, fetch, crypto, setTimeout */
const form = document.getElementById("bulk-upload");
const input = document.getElementById("lanes-file");
const errors = document.getElementById("bulk-errors");
const progress = document.getElementById("bulk-progress");
const bar = document.getElementById("bulk-bar");
const status = document.getElementById("bulk-status");
const result = document.getElementById("bulk-result");
const POLL_MS = 1000;

const mib = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

function showErrors(lines) {
  errors.replaceChildren();
  const intro = document.createElement("p");
  intro.textContent = "The file was not accepted:";
  const list = document.createElement("ul");
  for (const line of lines) {
    const item = document.createElement("li");
    item.textContent = line;
    list.append(item);
  }
  errors.append(intro, list);
  errors.hidden = false;
  errors.focus?.();
}

/** A problem+json answer as sentences, field by field ("(file)" is the file as a whole). */
function problemLines(body, status) {
  const fieldErrors = Array.isArray(body?.errors) ? body.errors : [];
  if (fieldErrors.length)
    return fieldErrors.map((e) =>
      e.field && e.field !== "(file)" ? `${e.field}: ${e.message}` : `The file: ${e.message}`,
    );
  return [String(body?.detail ?? body?.title ?? `The upload was refused (HTTP ${status}).`)];
}

function showJob(job) {
  progress.hidden = false;
  bar.value = job.progress;
  const { total, priced, invalid } = job.lanes;
  const done = priced + invalid;
  status.textContent =
    job.state === "succeeded"
      ? `Done: ${priced} of ${total} lanes priced, ${invalid} invalid.`
      : job.state === "failed"
        ? `The job failed: ${job.lastError ?? "no reason given"}. Upload the file again.`
        : `${job.state === "queued" ? "Queued" : "Pricing"}: ${done} of ${total} lanes done (${Math.round(job.progress * 100)} %).`;
  progress.dataset.state = job.state;
}

function offerResults(job) {
  const link = document.createElement("a");
  link.href = `/v1/bulk-jobs/${job.id}/results.csv`;
  link.download = `bulk-job-${job.id}.csv`;
  link.textContent = "Download the results CSV";
  result.replaceChildren(link);
  result.hidden = false;
}

async function follow(job) {
  showJob(job);
  while (job.state !== "succeeded" && job.state !== "failed") {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    const response = await fetch(`/v1/bulk-jobs/${job.id}?limit=1`, { credentials: "same-origin" });
    if (!response.ok) {
      status.textContent = `Could not read the job's progress (HTTP ${response.status}); reload the page to see it.`;
      return;
    }
    job = await response.json();
    showJob(job);
  }
  if (job.state === "succeeded") offerResults(job);
}

form?.addEventListener("submit", async (event) => {
  event.preventDefault();
  errors.hidden = true;
  result.hidden = true;
  const file = input.files?.[0];
  const maxBytes = Number(form.dataset.maxBytes);
  if (!file) return showErrors(["Choose a CSV file of lanes first."]);
  if (file.size === 0)
    return showErrors([
      `${file.name} is empty. Its first line must name the columns origin,destination,equipment,weightLbs,pickupDate, then one lane per line.`,
    ]);
  if (file.size > maxBytes)
    return showErrors([
      `${file.name} is ${mib(file.size)}; a file may be at most ${mib(maxBytes)} (${Number(form.dataset.maxLanes).toLocaleString("en-US")} lanes). Split it into several files.`,
    ]);
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const response = await fetch("/v1/bulk-jobs", {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "content-type": "text/csv",
        "x-csrf-token": form.dataset.csrf,
        "idempotency-key": crypto.randomUUID(),
      },
      body: file,
    });
    const body = await response.json().catch(() => ({}));
    if (response.status !== 202) return showErrors(problemLines(body, response.status));
    await follow(body);
  } catch (error) {
    showErrors([
      `The upload did not reach the server (${error.message}). Check the connection and try again.`,
    ]);
  } finally {
    button.disabled = false;
  }
});
