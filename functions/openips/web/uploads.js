// Files from a drop or a picker, with their relative paths, and their uploads straight to S3
// with the job's presigned POST form: a few at a time, progress from XMLHttpRequest, retry.

const PARALLEL = 4;

// Dropped items → [{file, path}]; folders walked (hidden entries skipped, as the CLI does).
export async function filesFromDrop(dataTransfer) {
  const items = [...dataTransfer.items].filter((item) => item.kind === "file");
  // The entries must be taken before the first await: the drop's data is gone after the event.
  const entries = items.map((item) => (item.webkitGetAsEntry ? item.webkitGetAsEntry() : null));
  const files = items.map((item) => item.getAsFile());
  const found = [];
  for (const [index, entry] of entries.entries()) {
    if (entry) await walk(entry, "", found);
    else if (files[index]) found.push({ file: files[index], path: files[index].name });
  }
  return found;
}

async function walk(entry, prefix, found) {
  if (entry.name.startsWith(".")) return;
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    found.push({ file, path: prefix + entry.name });
  } else if (entry.isDirectory) {
    const reader = entry.createReader();
    for (;;) {  // readEntries answers in batches until an empty one
      const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
      if (!batch.length) break;
      for (const child of batch) await walk(child, `${prefix}${entry.name}/`, found);
    }
  }
}

export function filesFromInput(input) {
  return [...input.files]
    .map((file) => ({ file, path: file.webkitRelativePath || file.name }))
    .filter(({ path }) => !path.split("/").some((part) => part.startsWith(".")));
}

export class Upload {
  constructor(file, path) {
    Object.assign(this, { file, path, loaded: 0, state: "waiting", error: "", xhr: null });
  }

  get size() { return this.file.size; }
  get settled() { return ["done", "failed", "cancelled"].includes(this.state); }
}

// S3's XML error answer → "Code: Message" (parsed as XML data, never rendered as markup).
function s3Error(xhr) {
  const doc = new DOMParser().parseFromString(xhr.responseText || "", "application/xml");
  const text = (name) => doc.getElementsByTagName(name)[0]?.textContent || "";
  const code = text("Code");
  return code ? `${code}: ${text("Message")}` : `HTTP ${xhr.status}`;
}

export class Uploader {
  // getForm(): the job's current upload form (renewed when about to expire); onChange(upload|null).
  constructor(getForm, onChange) {
    Object.assign(this, { getForm, onChange, uploads: [], stopped: false });
  }

  add(found) {
    const known = new Set(this.uploads.map((upload) => upload.path));
    for (const { file, path } of found) {
      if (!known.has(path)) this.uploads.push(new Upload(file, path));
      known.add(path);
    }
    this.onChange(null);
  }

  clear() { this.uploads = []; this.onChange(null); }

  get settled() { return this.uploads.every((upload) => upload.settled); }
  get failed() { return this.uploads.filter((upload) => upload.state === "failed"); }
  get totals() {
    return this.uploads.reduce((sum, upload) => ({ loaded: sum.loaded + upload.loaded, size: sum.size + upload.size }),
                               { loaded: 0, size: 0 });
  }

  start() { this.stopped = false; this.pump(); }

  retry(upload) {
    if (upload.state !== "failed" || this.stopped) return;
    Object.assign(upload, { state: "waiting", error: "", loaded: 0 });
    this.onChange(upload);
    this.pump();
  }

  stop() {
    this.stopped = true;
    for (const upload of this.uploads) {
      if (upload.state === "uploading") upload.xhr.abort();
      else if (upload.state === "waiting") upload.state = "cancelled";
    }
    this.onChange(null);
  }

  pump() {
    if (this.stopped) return;
    let running = this.uploads.filter((upload) => upload.state === "uploading").length;
    for (const upload of this.uploads) {
      if (running >= PARALLEL) break;
      if (upload.state !== "waiting") continue;
      running += 1;
      this.send(upload);
    }
  }

  async send(upload) {
    upload.state = "uploading";
    this.onChange(upload);
    let form;
    try {
      form = await this.getForm();
    } catch (error) {
      this.finish(upload, "failed", `No upload form: ${error.message}`);
      return;
    }
    const data = new FormData();
    data.append("key", form.keyPrefix + upload.path);
    for (const [name, value] of Object.entries(form.fields)) if (name !== "key") data.append(name, value);
    data.append("file", upload.file, upload.file.name);  // last: S3 ignores fields after the file
    const xhr = new XMLHttpRequest();
    upload.xhr = xhr;
    // Listening to upload progress makes this a preflighted CORS request (the bucket's CORS rule).
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable && event.total) {
        upload.loaded = Math.min(upload.size, Math.round(upload.size * (event.loaded / event.total)));
        this.onChange(upload);
      }
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) this.finish(upload, "done");
      else this.finish(upload, "failed", s3Error(xhr));
    });
    xhr.addEventListener("error", () => this.finish(upload, "failed",
      "The upload did not reach storage (network, or the bucket's CORS rule does not allow this page)"));
    xhr.addEventListener("abort", () => this.finish(upload, "cancelled"));
    xhr.open("POST", form.url);
    xhr.send(data);
  }

  finish(upload, state, error = "") {
    Object.assign(upload, { state, error, xhr: null });
    if (state === "done") upload.loaded = upload.size;
    this.onChange(upload);
    this.pump();
  }
}
