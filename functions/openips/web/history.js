// Past jobs (getJobLogs), newest first, each linking to its log on this page.

import { call, query } from "./api.js";
import { $, clear, el, shortTime } from "./dom.js";

let nextToken = null;

export async function showJobs(more = false) {
  const body = $("job-rows");
  if (!more) { clear(body); nextToken = null; }
  const page = await call("GET", `/v1/jobs/logs${query({ numRows: 50, sortBy: "StartDate",
                                                         sortDirection: "Descending", nextToken })}`);
  for (const job of page.jobLogArray) {
    body.append(el("tr", {},
      el("td", {}, el("a", { href: `#job/${encodeURIComponent(job.jobHandle)}` }, job.jobName || job.jobHandle)),
      el("td", {}, job.logType === "EndUpload" ? "Ended" : "Running"),
      el("td", {}, shortTime(job.startDate)),
      el("td", {}, shortTime(job.endDate)),
      el("td", {}, job.totalFileCount),
      el("td", {}, job.fileErrorCount),
      el("td", {}, job.fileWarningCount)));
  }
  nextToken = page.nextToken || null;
  $("more-jobs").hidden = !nextToken;
}
