// One job on screen: its state and progress (getActiveJobs), its log as it grows
// (getJobLogDetails, in the job's own locale), and once it ends the summary and its assets.

import { call, query } from "./api.js";
import { $, append, clear, el, humanSize, shortTime } from "./dom.js";

const POLL_MS = 1000;
const PROBLEMS = new Set(["UploadError", "FatalError", "UploadWarning"]);

function hasWarning(row) {
  return (row.auxArray || []).some((aux) => aux.logType === "UploadWarning");
}

function shown(row, filter, search) {
  if (filter === "problems" && !(PROBLEMS.has(row.logType) || hasWarning(row))) return false;
  if (filter === "UploadError" && !["UploadError", "FatalError"].includes(row.logType)) return false;
  if (!search) return true;
  const haystack = [row.assetName, row.logMessage, ...(row.auxArray || []).map((aux) => aux.logMessage)]
    .join("\n").toLowerCase();
  return haystack.includes(search);
}

// Only http(s) URLs become links or images (a presigned URL always is).
function safeUrl(url) {
  try {
    const parsed = new URL(url);
    return ["http:", "https:"].includes(parsed.protocol) ? parsed.href : null;
  } catch { return null; }
}

export class JobView {
  constructor() {
    this.handle = null;
    this.rows = [];
    this.timer = null;
    this.onEnded = null;
    for (const radio of document.querySelectorAll("input[name=log-filter]")) {
      radio.addEventListener("change", () => this.renderLog());
    }
    $("log-search").addEventListener("input", () => this.renderLog());
  }

  follow(handle, name, onEnded = null) {
    this.stop();
    Object.assign(this, { handle, rows: [], onEnded, ended: false });
    $("job-view").hidden = false;
    $("job-view").dataset.jobHandle = handle;
    $("job-title").textContent = name || handle;
    $("summary").hidden = true;
    $("assets").hidden = true;
    clear($("asset-grid"));
    this.showState("Opening", "", 0);
    this.renderLog();
    this.tick();
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = null;
    this.handle = null;
  }

  async tick() {
    const handle = this.handle;
    if (!handle) return;
    try {
      const [active, details] = await Promise.all([
        call("GET", `/v1/jobs/active${query({ jobHandle: handle, includeWaitingJobs: "true" })}`),
        call("GET", `/v1/jobs/${encodeURIComponent(handle)}/log-details${query({ recordsPerPage: 1000 })}`),
      ]);
      if (handle !== this.handle) return;
      const log = details.jobLogArray[0];
      $("job-title").textContent = log.jobName || handle;
      if (log.detailArray && log.detailArray.length !== this.rows.length) {
        this.rows = log.detailArray;
        this.renderLog();
      }
      const job = active.jobArray.find((found) => found.jobHandle === handle);
      if (log.logType === "EndUpload") {
        this.showState("Ended", `${log.totalFileCount} files: ${log.fileSuccessCount} processed, `
                       + `${log.fileErrorCount} errors, ${log.fileWarningCount} warnings`, 100, true);
        await this.showResults(log);
        return;
      }
      if (job) this.showState(job.state, job.progressMessage, job.progress);
    } catch (error) {
      $("job-message").textContent = `Could not read the job: ${error.message}`;
    }
    if (handle === this.handle) this.timer = setTimeout(() => this.tick(), POLL_MS);
  }

  showState(state, message, progress, done = false) {
    const badge = $("job-state");
    badge.textContent = state;
    badge.className = done ? "badge done" : "badge";
    $("job-message").textContent = message || "";
    $("job-bar").value = progress || 0;
  }

  renderLog() {
    const filter = document.querySelector("input[name=log-filter]:checked").value;
    const search = $("log-search").value.trim().toLowerCase();
    const problems = this.rows.filter((row) => PROBLEMS.has(row.logType) || hasWarning(row)).length;
    $("problem-count").textContent = problems ? `(${problems})` : "";
    const body = clear($("log-rows"));
    for (const row of this.rows) {
      if (!shown(row, filter, search)) continue;
      const aux = (row.auxArray || []).map((entry) => el("span", { class: "aux" }, `${entry.logType}: ${entry.logMessage}`));
      body.append(el("tr", { class: `${row.logType}${hasWarning(row) ? " warned" : ""}`, "data-log-type": row.logType },
        el("td", {}, shortTime(row.dateCreated)),
        el("td", { class: "type" }, row.logType),
        el("td", { class: "name" }, row.assetName || ""),
        el("td", {}, row.logMessage, aux)));
    }
  }

  async showResults(log) {
    const handle = this.handle;
    const summary = clear($("summary"));
    const counts = [["Files", log.totalFileCount], ["Processed", log.fileSuccessCount], ["Updated", log.fileUpdateCount],
                    ["Duplicates", log.fileDuplicateCount], ["Errors", log.fileErrorCount],
                    ["Warnings", log.fileWarningCount]];
    for (const [label, value] of counts) summary.append(el("div", {}, el("strong", {}, value ?? 0), label));
    summary.append(el("div", {}, el("strong", {}, shortTime(log.endDate)), "Ended"));
    summary.hidden = false;
    const assets = [];
    let token;
    try {
      do {  // a page of 100 at a time; a big job's grid stops at 1000
        const page = await call("GET", `/v1/assets${query({ jobHandle: handle, limit: 100, nextToken: token })}`);
        assets.push(...page.assetArray);
        token = page.nextToken;
      } while (token && assets.length < 1000);
    } catch (error) {
      $("job-message").textContent = `Could not list the assets: ${error.message}`;
    }
    if (handle !== this.handle) return;
    const grid = clear($("asset-grid"));
    for (const asset of assets) grid.append(assetCard(asset));
    $("assets").hidden = false;
    if (this.onEnded) this.onEnded(log);
  }
}

function assetCard(asset) {
  const files = asset.files || {};
  const thumbUrl = safeUrl(files.thumbnail?.url);
  const thumb = el("div", { class: "thumb" });
  if (thumbUrl) thumb.append(el("img", { src: thumbUrl, alt: asset.name, decoding: "async" }));
  else thumb.append(el("span", { class: "no-thumb" }, "no preview"));
  const links = el("div", { class: "links" });
  for (const [label, file] of [["Master", files.master], ["Optimized", files.optimized]]) {
    const url = safeUrl(file?.url);
    if (url) links.append(el("a", { href: url, rel: "noopener noreferrer" }, label));
  }
  const size = [asset.type, humanSize(asset.fileSize), asset.width ? `${asset.width}×${asset.height}` : null]
    .filter(Boolean).join(" · ");
  return append(el("li", { "data-asset-handle": asset.assetHandle }),
    [thumb, el("div", { class: "name" }, asset.name), el("div", { class: "meta" }, size),
     el("div", { class: "meta" }, `${asset.folder || ""}${asset.fileName || ""}`), links]);
}
