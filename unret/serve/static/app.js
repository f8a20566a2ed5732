// unret web page: plain JavaScript, no build step, no CDN. Talks to the JSON API of `unret serve`.
"use strict";

const $ = (id) => document.getElementById(id);
let queryImage = null; // the File chosen for image search, if any

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

async function loadInfo() {
  try {
    const info = await (await fetch("/info")).json();
    const counts = Object.entries(info.modalities).map(([m, n]) => `${n} ${m}`).join(", ");
    $("info").textContent = `${info.model} · ${info.count} items (${counts || "empty"}) · ${info.dim}-d`;
  } catch (e) {
    $("info").textContent = "index info unavailable";
  }
}

function setImage(file) {
  queryImage = file;
  const preview = $("preview");
  if (file) {
    preview.src = URL.createObjectURL(file);
    preview.hidden = false;
    $("clear-image").hidden = false;
    $("drop-text").textContent = `Image query: ${file.name}`;
  } else {
    preview.hidden = true;
    $("clear-image").hidden = true;
    $("image").value = "";
    $("drop-text").textContent = "Drop an image here or choose one to search by image";
  }
}

async function search(event) {
  if (event) event.preventDefault();
  const text = $("q").value.trim();
  if (!text && !queryImage) return;
  const k = parseInt($("k").value, 10) || 10;
  const modality = $("modality").value || null;
  const mode = $("mode").value;
  let response;
  $("error").hidden = true;
  $("status").textContent = "searching…";
  const started = performance.now();
  try {
    if (queryImage) {
      const form = new FormData();
      form.append("image", queryImage, queryImage.name);
      if (text) form.append("query", text);
      form.append("k", String(k));
      form.append("mode", mode === "lexical" ? "dense" : mode);
      form.append("snippets", "true");
      if (modality) form.append("modality", modality);
      response = await fetch("/search", { method: "POST", body: form });
    } else {
      response = await fetch("/search", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ query: text, k, modality, mode, snippets: true }),
      });
    }
    const body = await response.json();
    if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
    const hits = body.results[0] || [];
    render(hits);
    const ms = Math.round(performance.now() - started);
    $("status").textContent = `${hits.length} result${hits.length === 1 ? "" : "s"} in ${ms} ms`;
  } catch (e) {
    $("results").replaceChildren();
    $("status").textContent = "";
    $("error").textContent = e.message;
    $("error").hidden = false;
  }
}

function codeBlock(hit) {
  const text = hit.text || "";
  const lines = text.split("\n").slice(0, 40);
  const start = Number.isInteger(hit.metadata.start_line) ? hit.metadata.start_line : 1;
  const end = Number.isInteger(hit.metadata.end_line) ? hit.metadata.end_line : start + text.split("\n").length - 1;
  const code = el("code", { class: hit.metadata.language ? `language-${hit.metadata.language}` : "" });
  code.textContent = lines.join("\n");
  if (window.hljs) {
    const lang = hit.metadata.language && hljs.getLanguage(hit.metadata.language) ? hit.metadata.language : null;
    const out = lang ? hljs.highlight(code.textContent, { language: lang }) : hljs.highlightAuto(code.textContent);
    code.innerHTML = out.value; // highlight.js escapes the source text
    code.classList.add("hljs");
  }
  const gutter = el("span", { class: "gutter", text: lines.map((_, i) => start + i).join("\n") });
  return [el("span", { class: "lines", text: `lines ${start}–${end}` }), el("pre", {}, gutter, code)];
}

function render(hits) {
  const list = $("results");
  list.replaceChildren();
  hits.forEach((hit, i) => {
    const head = el("div", { class: "hit-head" },
      el("span", { class: "rank", text: `${i + 1}.` }),
      el("span", { class: "hit-id", text: hit.id }),
      el("span", { class: `badge ${hit.modality}`, text: hit.modality }),
      el("span", { class: "score", text: hit.score.toFixed(4) }));
    const item = el("li", { class: "hit", "data-id": hit.id, "data-modality": hit.modality }, head);
    if (hit.modality === "image" || hit.modality === "image+text" || hit.modality === "video") {
      const img = el("img", { class: "thumb", alt: hit.id, loading: "lazy",
                              src: `/thumbnails/${encodeURIComponent(hit.id)}` });
      img.onerror = () => img.remove(); // an image added from memory has no file to show
      item.append(img);
      if (hit.text) item.append(el("p", { class: "snippet", text: hit.text.slice(0, 300) }));
    } else if (hit.modality === "code") {
      item.append(...codeBlock(hit));
    } else if (hit.text) {
      const snippet = hit.text.length > 400 ? hit.text.slice(0, 400) + "…" : hit.text;
      item.append(el("p", { class: "snippet", text: snippet }));
    }
    const meta = Object.entries(hit.metadata).filter(([k]) => !["start_line", "end_line"].includes(k));
    if (meta.length) item.append(el("div", { class: "meta", text: meta.map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join(" · ") }));
    list.append(item);
  });
}

function setupDrop() {
  const drop = $("drop");
  $("pick").addEventListener("click", (e) => { e.preventDefault(); $("image").click(); });
  $("image").addEventListener("change", () => { if ($("image").files[0]) { setImage($("image").files[0]); search(); } });
  $("clear-image").addEventListener("click", () => setImage(null));
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const file = e.dataTransfer.files[0];
    if (file && file.type.startsWith("image/")) { setImage(file); search(); }
  });
}

$("search-form").addEventListener("submit", search);
["modality", "mode"].forEach((id) => $(id).addEventListener("change", () => search()));
setupDrop();
loadInfo();
