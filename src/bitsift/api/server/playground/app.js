// bitsift playground: plain JavaScript over the REST API, no framework, nothing from a CDN.
// Every text that comes from the server or the user is put in the page with textContent, never
// as HTML. The API key stays in memory unless "remember" is ticked (then localStorage).
"use strict";

const $ = (id) => document.getElementById(id);
const KEY_STORE = "bitsift-api-key";
let apiKey = localStorage.getItem(KEY_STORE) || "";
let current = null;      // the namespace shown
let nextCursor = null;   // items tab: the next page's cursor

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

function status(message, error = false) {
  $("status").textContent = message;
  $("status").className = error ? "error" : "";
}

async function api(method, path, body, raw) {
  const headers = {};
  if (apiKey) headers["x-api-key"] = apiKey;
  let payload;
  if (raw !== undefined) payload = raw;
  else if (body !== undefined) { headers["content-type"] = "application/json"; payload = JSON.stringify(body); }
  const response = await fetch(path, { method, headers, body: payload });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(`${response.status} ${data.error || ""}: ${data.message || response.statusText}`);
  return data;
}

async function loadNamespaces() {
  try {
    const { namespaces } = await api("GET", "/v1/namespaces");
    const list = $("namespaces");
    list.replaceChildren(...namespaces.map((ns) => {
      const li = el("li", { "data-name": ns.namespace_name }, el("span", { text: ns.namespace_name }),
                    el("small", { text: `${ns.type} · ${ns.item_count}` }));
      if (current === ns.namespace_name) li.classList.add("active");
      li.addEventListener("click", () => open(ns.namespace_name));
      return li;
    }));
    status(namespaces.length ? "" : "no namespace yet: create one");
  } catch (e) { status(e.message, true); }
}

function open(name) {
  current = name;
  $("work").hidden = false;
  $("ns-title").textContent = name;
  for (const li of $("namespaces").children) li.classList.toggle("active", li.dataset.name === name);
  $("results").replaceChildren();
  showTab("search");
}

function showTab(tab) {
  for (const b of document.querySelectorAll(".tabs button")) b.classList.toggle("active", b.dataset.tab === tab);
  for (const t of document.querySelectorAll(".tab")) t.hidden = t.id !== `tab-${tab}`;
  if (tab === "items") { $("items").replaceChildren(); nextCursor = undefined; loadItems(); }
  if (tab === "stats") loadStats();
}

function hitView(hit) {
  const score = typeof hit.score === "number" ? hit.score : null;
  const head = el("div", { class: "hit-head" });
  if (score !== null) {
    const bar = el("div", { class: "bar", title: score.toFixed(3) }, el("span"));
    bar.firstChild.style.width = `${Math.round(score * 100)}%`;
    head.append(el("strong", { text: score.toFixed(3) }), bar, el("span", { class: "label", text: hit.label || "" }));
  }
  head.append(el("span", { class: "id", text: hit.id }));
  if (typeof hit.keyword_score === "number") head.append(el("span", { class: "meta", text: `bm25 ${hit.keyword_score.toFixed(2)}` }));
  const li = el("li", { class: "hit" }, head, el("p", { class: "text", text: hit.text || "" }));
  if (hit.metadata && Object.keys(hit.metadata).length) li.append(el("div", { class: "meta", text: JSON.stringify(hit.metadata) }));
  return li;
}

async function search(event) {
  event.preventDefault();
  const raw = $("query").value.trim();
  let query = raw;
  if (raw.startsWith("[")) { try { query = JSON.parse(raw); } catch { status("the vector is not valid JSON", true); return; } }
  const body = { namespaces: [current], query, top_k: Number($("top-k").value) || 10 };
  const threshold = Number($("threshold").value);
  if (threshold > 0) body.threshold = threshold;
  if ($("mode").value) body.mode = $("mode").value;
  const filter = $("filter").value.trim();
  if (filter) { try { body.filter = JSON.parse(filter); } catch { status("the filter is not valid JSON", true); return; } }
  try {
    const res = await api("POST", "/v1/search", body);
    $("results").replaceChildren(...res.results.map(hitView));
    status(`${res.results.length} results in ${res.timings.total_ms.toFixed(1)} ms (${res.mode})`);
  } catch (e) { status(e.message, true); }
}

async function upload(files) {
  for (const file of files) {
    const bar = el("progress", { max: "1", value: "0" });
    const note = el("span", { text: " reading" });
    $("uploads").append(el("li", {}, el("span", { text: `${file.name} ` }), bar, note));
    try {
      const stored = await api("PUT", `/v1/namespaces/${encodeURIComponent(current)}/files/${encodeURIComponent(file.name)}`,
                               undefined, await file.arrayBuffer());
      note.textContent = ` ${stored.chunks} chunks, embedding`;
      for (;;) {  // the ingestion job of the upload, followed until it ends
        const job = await api("GET", `/v1/jobs/${encodeURIComponent(stored.job_id)}`);
        bar.max = Math.max(job.chunks || 1, 1);
        bar.value = job.chunks_done || 0;
        if (["done", "failed", "cancelled"].includes(job.state)) { note.textContent = ` ${job.state}`; break; }
        await new Promise((r) => setTimeout(r, 300));
      }
    } catch (e) { note.textContent = ` ${e.message}`; }
  }
  loadNamespaces();
}

async function loadItems() {
  if (nextCursor === null) return;
  const cursor = nextCursor ? `&next_token=${encodeURIComponent(nextCursor)}` : "";
  try {
    const page = await api("GET", `/v1/namespaces/${encodeURIComponent(current)}/documents/fetch-text-data?limit=50${cursor}`);
    $("items").append(...page.items.map(hitView));
    nextCursor = page.pagination.next_token || null;
    $("more-items").hidden = nextCursor === null;
  } catch (e) { status(e.message, true); }
}

async function loadStats() {
  try {
    const info = await api("GET", `/v1/namespaces/${encodeURIComponent(current)}`);
    const diag = await api("GET", `/v1/namespaces/${encodeURIComponent(current)}/diagnostics`);
    const rows = [["items", info.item_count], ["type", info.type], ["dimension", info.vector_dimension],
                  ["binarizer", info.binarizer], ["model", info.model || "-"],
                  ["mean bit entropy", (diag.bit_entropy_mean ?? 0).toFixed(3)],
                  ["effective bits", (diag.effective_bits ?? 0).toFixed(1)]];
    $("stats").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: String(v) })]));
    const bits = diag.bit_entropy || [];
    const svg = $("entropy");
    const ns = "http://www.w3.org/2000/svg";
    svg.replaceChildren();
    svg.setAttribute("viewBox", `0 0 ${Math.max(bits.length, 1)} 100`);
    bits.forEach((h, i) => {
      const r = document.createElementNS(ns, "rect");
      r.setAttribute("x", i); r.setAttribute("width", 0.9);
      r.setAttribute("y", 100 - h * 100); r.setAttribute("height", h * 100); r.setAttribute("fill", "#2f6fd6");
      svg.append(r);
    });
  } catch (e) { status(e.message, true); }
}

async function answer(event) {
  event.preventDefault();
  try {
    const res = await api("POST", "/v1/answer", { namespace: current, query: $("question").value, top_k: 5 });
    $("answer").textContent = res.answer;
    $("citations").replaceChildren(...res.citations.map((c) => el("li", {}, el("span", { class: "id", text: c.id }),
                                                                  el("p", { class: "text", text: c.sentence }))));
  } catch (e) { status(e.message, true); }
}

async function create(event) {
  event.preventDefault();
  const body = { namespace_name: $("new-name").value, type: $("new-type").value };
  if (body.type === "vector") body.vector_dimension = Number($("new-dim").value);
  try {
    await api("POST", "/v1/namespaces", body);
    $("new-name").value = "";
    await loadNamespaces();
    open(body.namespace_name);
  } catch (e) { status(e.message, true); }
}

window.addEventListener("DOMContentLoaded", () => {
  $("api-key").value = apiKey;
  $("remember-key").checked = Boolean(localStorage.getItem(KEY_STORE));
  $("api-key").addEventListener("change", () => {
    apiKey = $("api-key").value;
    if ($("remember-key").checked) localStorage.setItem(KEY_STORE, apiKey);
    loadNamespaces();
  });
  $("remember-key").addEventListener("change", () => {
    if ($("remember-key").checked) localStorage.setItem(KEY_STORE, apiKey); else localStorage.removeItem(KEY_STORE);
  });
  $("key-form").addEventListener("submit", (e) => e.preventDefault());
  $("create-form").addEventListener("submit", create);
  $("search-form").addEventListener("submit", search);
  $("answer-form").addEventListener("submit", answer);
  $("threshold").addEventListener("input", () => { $("threshold-out").textContent = $("threshold").value; });
  $("more-items").addEventListener("click", loadItems);
  for (const b of document.querySelectorAll(".tabs button")) b.addEventListener("click", () => showTab(b.dataset.tab));
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); upload([...e.dataTransfer.files]); });
  $("files").addEventListener("change", () => upload([...$("files").files]));
  loadNamespaces();
});
