// The savsr serve page: queue uploads, follow the jobs through server-sent events, and look at
// any frame of a finished job. Plain JavaScript, no build step, nothing fetched from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
// Every request that changes state carries this header: a cross-site page cannot send it.
const HEADERS = { "X-Savsr-Request": "1" };
let models = [];
let defaults = {};
let picked = [];
let jobs = [];
let viewing = null;
const FINISHED = ["done", "failed", "cancelled"];

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { ...HEADERS, ...(options.headers || {}) } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}

function say(text, isError = false) {
  $("message").textContent = text;
  $("message").className = isError ? "error" : "";
}

function option(value, text) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = text;
  return o;
}

async function loadModels() {
  const info = await api("api/models");
  models = info.models;
  defaults = info.defaults;  // per scale, the model `savsr upscale --scale S` takes
  const scales = [...new Set(models.map((m) => m.scale))].sort();
  $("scale").replaceChildren(...scales.map((s) => option(s, `×${s}`)));
  $("scale").value = info.scale;
  $("precision").replaceChildren(...info.precisions.map((p) => option(p, p)));
  fillModels();
}

function fillModels() {
  const scale = Number($("scale").value);
  const offered = models.filter((m) => m.scale === scale);
  $("model").replaceChildren(...offered.map((m) => option(m.name, m.name === defaults[scale] ? `${m.name} (default)` : m.name)));
  $("model").value = defaults[scale];
  describeModel();
}

function describeModel() {
  const model = models.find((m) => m.name === $("model").value);
  $("purpose").textContent = model && model.purpose ? `${model.name}: for ${model.purpose}.` : "";
}

function pick(files) {
  picked = [...files];
  $("picked").replaceChildren(...picked.map((f) => {
    const li = document.createElement("li");
    li.textContent = `${f.name} (${(f.size / 1e6).toFixed(1)} MB)`;
    return li;
  }));
  $("queue").disabled = picked.length === 0;
}

async function queue() {
  const files = picked;
  pick([]);
  $("files").value = "";  // so that choosing the same file again is a change
  const failed = [];
  for (const file of files) {
    const query = new URLSearchParams({
      name: file.name, model: $("model").value, scale: $("scale").value,
      precision: $("precision").value, frames: $("frames").value.trim(),
    });
    say(`uploading ${file.name}…`);
    try {
      // The file is the request body, so the browser streams it and the server writes it to disk.
      await api(`api/jobs?${query}`, { method: "POST", body: file });
    } catch (err) {
      failed.push(err.message.includes(file.name) ? err.message : `${file.name}: ${err.message}`);  // named once
    }
  }
  if (failed.length) say(failed.join("; "), true);
  else say(`queued ${files.length} file(s)`);
  refresh();
}

function eta(seconds) {
  if (seconds == null) return "";
  const s = Math.round(seconds);
  return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}

function cell(row, content, className) {
  const td = row.insertCell();
  if (content instanceof Node) td.append(content);
  else td.textContent = content;
  if (className) td.className = className;
  return td;
}

function button(text, action) {
  const b = document.createElement("button");
  b.textContent = text;
  b.addEventListener("click", action);
  return b;
}

function renderJobs() {
  const body = $("jobs").tBodies[0];
  body.replaceChildren();
  $("empty").hidden = jobs.length > 0;
  for (const job of [...jobs].reverse()) {
    const row = body.insertRow();
    row.dataset.id = job.id;
    row.dataset.status = job.status;
    cell(row, job.name, "name").title = job.name;  // long names wrap; the whole name on hover
    cell(row, `${job.model} ×${job.scale} ${job.precision}${job.frames ? ` [${job.frames}]` : ""}`);
    const status = cell(row, job.status, `status status-${job.status}`);
    if (job.message) status.title = job.message;
    if (job.status === "failed") status.textContent = `failed: ${job.message}`;
    else if (job.message) status.textContent = `${job.status}: ${job.message}`;  // e.g. an input cut short
    const bar = document.createElement("progress");
    if (job.total) { bar.max = job.total; bar.value = job.done; }
    const progress = document.createElement("span");
    progress.append(bar, ` ${job.done}${job.total ? ` / ${job.total}` : ""}`);
    progress.className = "frames";
    cell(row, progress, "num");
    cell(row, job.fps ? job.fps.toFixed(2) : "", "num fps");
    cell(row, eta(job.eta), "num eta");
    const actions = cell(row, "", "actions");
    if (job.status === "queued" || job.status === "running") {
      actions.append(button("Cancel", () => cancel(job)));
    }
    if (job.status === "done") {
      const a = document.createElement("a");
      a.href = `api/jobs/${job.id}/result`;
      a.download = job.result;
      a.className = "button download";
      a.textContent = "Download";
      actions.append(a, button("Compare", () => view(job)));
    }
    if (job.status !== "deleting") actions.append(button("Delete", () => remove(job)));
  }
  $("clear").hidden = !jobs.some((j) => FINISHED.includes(j.status));
}

async function remove(job) {
  try {
    await api(`api/jobs/${job.id}`, { method: "DELETE" });
    if (viewing && viewing.id === job.id) closeViewer();
  } catch (err) {
    say(`${job.name}: ${err.message}`, true);
  }
  refresh();
}

async function clearFinished() {
  try {
    const { deleted } = await api("api/jobs/clear", { method: "POST" });
    if (viewing && deleted.includes(viewing.id)) closeViewer();
    say(`deleted ${deleted.length} finished job(s)`);
  } catch (err) {
    say(err.message, true);
  }
  refresh();
}

function closeViewer() {
  viewing = null;
  $("viewer").hidden = true;
}

async function cancel(job) {
  try {
    await api(`api/jobs/${job.id}/cancel`, { method: "POST" });
  } catch (err) {
    say(`${job.name}: ${err.message}`, true);
  }
}

async function refresh() {
  try {
    jobs = (await api("api/jobs")).jobs;
    renderJobs();
  } catch (err) {
    say(err.message, true);
  }
}

function listen() {
  // The server sends the whole list whenever it changes; EventSource reconnects by itself.
  const events = new EventSource("api/events");
  events.onmessage = (event) => {
    jobs = JSON.parse(event.data);
    renderJobs();
  };
}

function view(job) {
  viewing = job;
  const frame = $("frame");
  frame.min = job.start;
  frame.max = job.done ? job.start + job.done - 1 : "";
  frame.value = job.start;
  $("viewer-name").textContent = job.name;
  $("viewer-name").title = job.name;
  $("viewer").hidden = false;
  showFrame();
  $("viewer").scrollIntoView();
}

function showFrame() {
  if (!viewing) return;
  const n = Number($("frame").value);
  const first = viewing.start;
  const count = viewing.status === "done" ? viewing.done : viewing.total;  // an input cut short: the frames it had
  const last = count ? viewing.start + count - 1 : null;
  if (!Number.isInteger(n) || n < first || (last !== null && n > last)) {
    $("viewer-message").textContent = `frame ${$("frame").value} is not among this job's frames ${first} to ${last ?? "the end"}`;
    $("viewer-message").className = "error";
    return;  // the frame shown stays
  }
  $("viewer-message").textContent = "";
  $("viewer-frame").textContent = n;
  const base = `api/jobs/${viewing.id}/frames/${n}`;
  $("img-bicubic").src = `${base}/bicubic.png`;
  $("img-sr").src = `${base}/sr.png`;
  $("img-w").src = `${base}/w.png`;
}

async function explainImage(event) {
  // A frame the server refused (past a video's real end, say): its message instead of a broken picture.
  const response = await fetch(event.target.src, { headers: HEADERS }).catch(() => null);
  const body = response ? await response.json().catch(() => ({})) : {};
  $("viewer-message").textContent = body.error || `${event.target.alt}: the picture could not be loaded`;
  $("viewer-message").className = "error";
}

function setSplit(percent) {
  const p = Math.min(100, Math.max(0, percent));
  $("split").value = p;
  $("img-sr").style.clipPath = `inset(0 0 0 ${p}%)`;
  $("divider").style.left = `${p}%`;
}

function setZoom() {
  // At 1× a frame fills the pane's width, or its height (70vh) where it is taller than wide (a portrait clip).
  const image = $("img-bicubic");
  const aspect = image.naturalWidth && image.naturalHeight ? image.naturalWidth / image.naturalHeight : 0;
  const fit = aspect && aspect < 1 ? `min(100%, ${(70 * aspect).toFixed(3)}vh)` : "100%";
  const width = `calc(${fit} * ${Number($("zoom").value)})`;
  $("stage").style.width = width;
  $("w-stage").style.width = width;
}

function dragSplit(event) {
  if (event.type === "pointermove" && !event.buttons) return;
  const box = $("stage").getBoundingClientRect();
  setSplit(((event.clientX - box.left) / box.width) * 100);
}

function setUp() {
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    pick(e.dataTransfer.files);
  });
  $("files").addEventListener("change", (e) => pick(e.target.files));
  $("scale").addEventListener("change", fillModels);
  $("model").addEventListener("change", describeModel);
  $("queue").addEventListener("click", queue);
  $("clear").addEventListener("click", clearFinished);
  $("frame").addEventListener("change", showFrame);
  for (const id of ["img-bicubic", "img-sr", "img-w"]) $(id).addEventListener("error", explainImage);
  $("img-bicubic").addEventListener("load", setZoom);
  $("zoom").addEventListener("change", setZoom);
  $("split").addEventListener("input", (e) => setSplit(Number(e.target.value)));
  $("stage").addEventListener("pointerdown", dragSplit);
  $("stage").addEventListener("pointermove", dragSplit);
  loadModels().catch((err) => say(err.message, true));
  refresh();
  listen();
}

setUp();
