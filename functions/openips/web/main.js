// The upload page: sign in, choose options, drop files, upload, watch the job, see the results.

import { ApiError, call, session } from "./api.js";
import { $, clear, el, humanSize } from "./dom.js";
import { showJobs } from "./history.js";
import { JobView } from "./job.js";
import { DEFAULT_OPTIONS, applyControls, faultField, fieldElement, showOptions } from "./options.js";
import { Uploader, filesFromDrop, filesFromInput } from "./uploads.js";

const RENEW_MARGIN_MS = 60_000;
const form = $("job-form");
const jobView = new JobView();
let options = { ...DEFAULT_OPTIONS };
let job = null;  // {handle, upload} of the job this form opened
const rowsByPath = new Map();

// ---- signing in ----------------------------------------------------------------------------

function describe(error) {
  if (error instanceof ApiError && error.status === 401) {
    return "This API key is not valid (it may have been revoked). Check it and try again.";
  }
  if (error instanceof ApiError && error.status === 403) return `This key may not do that: ${error.reason}`;
  return error.message;
}

async function signIn(key) {
  // Any read proves the key; the answer names nobody, so the user is shown by company.
  const answer = await call("GET", "/v1/jobs/active", undefined, key);
  session.key = key;
  const company = answer.jobArray[0]?.companyHandle;
  $("who").textContent = company ? `company ${company}` : "signed in";
}

$("sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const key = $("api-key").value.trim();
  $("sign-in-error").textContent = "";
  try {
    await signIn(key);
    $("api-key").value = "";
    route();
  } catch (error) {
    $("sign-in-error").textContent = describe(error);
  }
});

$("sign-out").addEventListener("click", () => {
  session.key = null;
  jobView.stop();
  location.hash = "";
  route();
});

// ---- views -----------------------------------------------------------------------------------

function show(view) {
  for (const id of ["sign-in", "upload-view", "jobs-view"]) $(id).hidden = id !== view;
  $("nav").hidden = view === "sign-in";
}

async function route() {
  if (!session.key) { show("sign-in"); return; }
  const hash = location.hash.replace(/^#/, "");
  if (hash === "jobs") {
    show("jobs-view");
    jobView.stop();
    try { await showJobs(); } catch (error) { onApiError(error, $("job-rows")); }
  } else if (hash.startsWith("job/")) {
    show("upload-view");
    form.hidden = true;
    jobView.follow(decodeURIComponent(hash.slice(4)));
  } else {
    show("upload-view");
    form.hidden = false;
    if (!job) $("job-view").hidden = true;
  }
}

function onApiError(error, where) {
  if (error instanceof ApiError && error.status === 401) {
    session.key = null;
    $("sign-in-error").textContent = describe(error);
    route();
    return;
  }
  where.replaceChildren(el("tr", {}, el("td", { class: "error", colspan: 7 }, describe(error))));
}

window.addEventListener("hashchange", route);
$("more-jobs").addEventListener("click", () => showJobs(true).catch((error) => onApiError(error, $("job-rows"))));

// ---- options ---------------------------------------------------------------------------------

function writeJson() {
  $("options-json").value = JSON.stringify(options, null, 2);
  $("json-error").textContent = "";
}

form.addEventListener("change", (event) => {
  if (event.target.closest(".options") && event.target.id !== "options-json") {
    options = applyControls(form, options);
    writeJson();
  }
});

$("options-json").addEventListener("input", () => {
  try {
    const parsed = JSON.parse($("options-json").value);
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("must be a JSON object");
    options = parsed;
    showOptions(form, options);
    $("json-error").textContent = "";
  } catch (error) {
    $("json-error").textContent = `Not valid JSON: ${error.message}`;
  }
});

function clearFaults() {
  for (const node of form.querySelectorAll(".field-error")) node.remove();
  for (const node of form.querySelectorAll(".invalid")) node.classList.remove("invalid");
  $("form-error").textContent = "";
}

// A fault that names a field is shown next to it; any other fault under the buttons.
function showFault(error) {
  const field = error instanceof ApiError ? faultField(error.reason) : null;
  const target = field && fieldElement(form, field);
  const text = error instanceof ApiError && error.code ? `${error.reason} (${error.type} ${error.code})` : describe(error);
  if (!target) { $("form-error").textContent = text; return; }
  target.classList.add("invalid");
  if (target.tagName === "DETAILS") target.open = true;
  target.append(el("p", { class: "field-error", role: "alert", "data-fault-field": field }, text));
}

// ---- files -----------------------------------------------------------------------------------

const uploader = new Uploader(currentForm, renderUpload);

async function currentForm() {
  if (Date.parse(job.upload.expiration) - Date.now() < RENEW_MARGIN_MS) {
    job.upload = (await call("POST", `/v1/upload-jobs/${encodeURIComponent(job.handle)}/upload-form`)).upload;
  }
  return job.upload;
}

function fileRow(upload) {
  const retry = el("button", { type: "button", class: "quiet retry", hidden: true,
                               onclick: () => uploader.retry(upload) }, "Retry");
  const row = el("li", { "data-path": upload.path },
    el("span", { class: "path", title: upload.path }, upload.path),
    el("span", { class: "size" }, humanSize(upload.size)),
    el("progress", { max: 100, value: 0 }),
    el("span", { class: "status" }), retry);
  rowsByPath.set(upload.path, row);
  return row;
}

function renderRow(upload) {
  const row = rowsByPath.get(upload.path);
  if (!row) return;
  row.className = upload.state;
  row.querySelector("progress").value = upload.size ? Math.floor((100 * upload.loaded) / upload.size)
                                                     : (upload.state === "done" ? 100 : 0);
  const status = { waiting: "waiting", uploading: "uploading", done: "uploaded", cancelled: "cancelled" }[upload.state];
  row.querySelector(".status").textContent = upload.state === "failed" ? upload.error : status;
  row.querySelector(".retry").hidden = upload.state !== "failed" || !job;
}

function renderUpload(upload) {
  if (upload === null) {  // the list itself changed
    const list = clear($("file-list"));
    rowsByPath.clear();
    for (const item of uploader.uploads) { list.append(fileRow(item)); renderRow(item); }
  } else renderRow(upload);
  const { loaded, size } = uploader.totals;
  const count = uploader.uploads.length;
  const done = uploader.uploads.filter((item) => item.state === "done").length;
  $("batch").hidden = count === 0;
  $("batch-bar").value = size ? Math.floor((100 * loaded) / size) : (count && done === count ? 100 : 0);
  $("batch-text").textContent = `${done} of ${count} files uploaded · ${humanSize(loaded)} of ${humanSize(size)}`;
  $("start").disabled = !job && count === 0;
  if (job && !job.ending && !job.stopped && uploader.settled) {
    if (uploader.failed.length === 0) endJob();
    else $("end-job").hidden = false;
  }
}

function addFiles(found) {
  if (job) return;  // a running job takes no new files: start a new one after it
  uploader.add(found);
}

// A file dropped beside the zone must not make the browser leave the page to show it.
window.addEventListener("dragover", (event) => event.preventDefault());
window.addEventListener("drop", (event) => event.preventDefault());
const drop = $("drop-zone");
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", async (event) => {
  event.preventDefault();
  event.stopPropagation();
  drop.classList.remove("over");
  addFiles(await filesFromDrop(event.dataTransfer));
});
$("pick-files").addEventListener("click", () => $("file-input").click());
$("pick-folder").addEventListener("click", () => $("folder-input").click());
for (const id of ["file-input", "folder-input"]) {
  $(id).addEventListener("change", (event) => { addFiles(filesFromInput(event.target)); event.target.value = ""; });
}
$("clear-files").addEventListener("click", () => { if (!job) uploader.clear(); });

// ---- the job ---------------------------------------------------------------------------------

function lockForm(locked) {
  for (const node of form.querySelectorAll("input, select, textarea, #pick-files, #pick-folder, #clear-files")) {
    node.disabled = locked;
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (job) { resetForm(); return; }  // the button reads "New upload" once a job has ended
  clearFaults();
  if ($("json-error").textContent) { showFault(new Error($("json-error").textContent)); return; }
  const body = { jobName: $("job-name").value.trim(), locale: $("locale").value, uploadParams: options };
  if ($("dest-folder").value.trim()) body.destFolder = $("dest-folder").value.trim();
  $("start").disabled = true;
  try {
    const opened = await call("POST", "/v1/upload-jobs", body);
    job = { handle: opened.jobHandle, upload: opened.upload, ending: false, stopped: false };
  } catch (error) {
    $("start").disabled = false;
    if (error instanceof ApiError && error.status === 401) { onApiError(error, $("form-error")); return; }
    showFault(error);
    return;
  }
  lockForm(true);
  $("start").hidden = true;
  $("stop-job").hidden = false;
  jobView.follow(job.handle, body.jobName, jobEnded);
  uploader.start();
});

async function endJob() {
  job.ending = true;
  $("end-job").hidden = true;
  try {
    await call("POST", `/v1/upload-jobs/${encodeURIComponent(job.handle)}/end`);
  } catch (error) {
    job.ending = false;
    $("form-error").textContent = `Could not end the job: ${describe(error)}`;
  }
}

$("end-job").addEventListener("click", () => { if (job && !job.ending) endJob(); });

$("stop-job").addEventListener("click", async () => {
  if (!job) return;
  job.stopped = true;
  $("stop-job").disabled = true;
  uploader.stop();
  try {
    await call("POST", `/v1/jobs/${encodeURIComponent(job.handle)}/stop`);
  } catch (error) {
    $("form-error").textContent = `Could not stop the job: ${describe(error)}`;
    $("stop-job").disabled = false;
  }
});

function jobEnded() {
  $("stop-job").hidden = true;
  $("end-job").hidden = true;
  $("start").hidden = false;
  $("start").disabled = false;
  $("start").textContent = "New upload";
}

function resetForm() {
  job = null;
  uploader.clear();
  lockForm(false);
  clearFaults();
  $("start").textContent = "Upload";
  $("stop-job").disabled = false;
  $("job-name").value = defaultJobName();
  jobView.stop();
  $("job-view").hidden = true;
}

function defaultJobName() {
  const now = new Date();
  const pad = (n) => String(n).padStart(2, "0");
  return `upload-${now.getFullYear()}${pad(now.getMonth() + 1)}${pad(now.getDate())}-`
    + `${pad(now.getHours())}${pad(now.getMinutes())}${pad(now.getSeconds())}`;
}

// ---- start -----------------------------------------------------------------------------------

$("job-name").value = defaultJobName();
$("locale").value = navigator.language?.toLowerCase().startsWith("ko") ? "ko-KR" : "en-US";
showOptions(form, options);
writeJson();
renderUpload(null);
route();
