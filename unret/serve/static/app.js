// unret web page: plain JavaScript, no build step, no CDN. Talks to the JSON API of `unret serve`.
"use strict";

const $ = (id) => document.getElementById(id);
let queryImage = null; // the File chosen for image search, if any
let imageSearch = true; // false when the model reads no images (see disableImageSearch)

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

const MODALITY_WORDS = { text: "text", code: "code", image: "images", "image+text": "captioned images" };

async function loadInfo() {
  try {
    const info = await (await fetch("/info")).json();
    const counts = Object.entries(info.modalities).map(([m, n]) => `${n} ${m}`).join(", ");
    $("info").textContent = `${info.model} · ${info.count} items (${counts || "empty"}) · ${info.dim}-d`;
    setModes(info.modes || []);
    if (Array.isArray(info.model_modalities) && !info.model_modalities.includes("image")) {
      disableImageSearch(info.model_modalities);
    }
  } catch (e) {
    $("info").textContent = "index info unavailable";
  }
}

// The mode menu lists the server's registered search modes (GET /info), keeping the current choice.
function setModes(modes) {
  const select = $("mode");
  const current = select.value;
  const known = new Map([...select.options].map((o) => [o.value, o.textContent]));
  select.replaceChildren(...modes.map((m) => el("option", { value: m, text: known.get(m) || m })));
  if (modes.includes(current)) select.value = current;
}

// A model that reads no images cannot embed an image query: say so in words instead of offering a drop
// zone whose every use ends in an error.
function disableImageSearch(modalities) {
  const reads = Object.keys(MODALITY_WORDS).filter((m) => modalities.includes(m))
    .map((m) => MODALITY_WORDS[m]).join(" and ");
  imageSearch = false;
  setImage(null);
  const drop = $("drop");
  drop.classList.add("disabled");
  drop.setAttribute("aria-disabled", "true");
  drop.removeAttribute("tabindex");
  $("image").disabled = true;
  $("drop-text").textContent = `Image search is not available: this index's model reads ${reads || "no images"} only.`;
  for (const option of $("modality").options) {
    if (option.value === "image" || option.value === "image+text") option.disabled = true;
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
    if (imageSearch) {
      $("drop-text").replaceChildren("Drop an image here or ",
        el("a", { href: "#", id: "pick", text: "choose one" }), " to search by image");
      $("pick").addEventListener("click", pickImage);
    }
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
  const text = (hit.text || hit.metadata.snippet || "").replace(/\n+$/, ""); // no empty last line numbered
  const lines = text.split("\n").slice(0, 40);
  const start = Number.isInteger(hit.metadata.start_line) ? hit.metadata.start_line : 1;
  const code = el("code", { class: hit.metadata.language ? `language-${hit.metadata.language}` : "" });
  code.textContent = lines.join("\n");
  if (window.hljs) {
    const lang = hit.metadata.language && hljs.getLanguage(hit.metadata.language) ? hit.metadata.language : null;
    const out = lang ? hljs.highlight(code.textContent, { language: lang }) : hljs.highlightAuto(code.textContent);
    code.innerHTML = out.value; // highlight.js escapes the source text
    code.classList.add("hljs");
  }
  const gutter = el("span", { class: "gutter", text: lines.map((_, i) => start + i).join("\n") });
  return el("pre", {}, gutter, code);
}

function lineRange(hit) {
  const meta = hit.metadata;
  if (!Number.isInteger(meta.start_line)) {
    if (hit.modality !== "code" || !hit.text) return null;
    return `lines 1–${hit.text.split("\n").length}`;
  }
  const end = Number.isInteger(meta.end_line) ? meta.end_line : meta.start_line;
  return end === meta.start_line ? `line ${end}` : `lines ${meta.start_line}–${end}`;
}

// What a person reads first: the file (or the id), where in it, and what kind of thing it is.
function cardHead(hit, rank) {
  const meta = hit.metadata;
  const title = typeof meta.source === "string" ? meta.source : hit.id;
  const range = lineRange(hit);
  const tags = [meta.name, meta.language].filter((x) => typeof x === "string" && x);
  return el("div", { class: "hit-head" },
    el("span", { class: "rank", text: `${rank}.` }),
    el("span", { class: "hit-title", title: hit.id, text: title }),
    range ? el("span", { class: "lines", text: range }) : null,
    ...tags.map((tag) => el("span", { class: "tag", text: tag })),
    el("span", { class: `badge ${hit.modality}`, text: hit.modality }),
    el("span", { class: "score", text: hit.score.toFixed(4) }));
}

// Everything the index stores about the hit (hashes, timestamps, chunking…), folded away until asked for.
function rawDetails(hit) {
  const raw = el("pre", { class: "raw-json", text: JSON.stringify({ id: hit.id, ...hit.metadata }, null, 2) });
  return el("details", { class: "raw" }, el("summary", { text: "metadata" }), raw);
}

function render(hits) {
  const list = $("results");
  list.replaceChildren();
  hits.forEach((hit, i) => {
    const item = el("li", { class: "hit", "data-id": hit.id, "data-modality": hit.modality }, cardHead(hit, i + 1));
    const text = hit.text || hit.metadata.snippet || "";
    if (hit.modality === "image" || hit.modality === "image+text" || hit.modality === "video") {
      const img = el("img", { class: "thumb", alt: hit.id, loading: "lazy",
                              src: `/thumbnails/${encodeURIComponent(hit.id)}` });
      img.onerror = () => img.remove(); // an image added from memory has no file to show
      item.append(img);
      if (text) item.append(el("p", { class: "snippet", text: text.slice(0, 300) }));
    } else if (hit.modality === "code") {
      item.append(codeBlock(hit));
    } else if (text) {
      item.append(el("p", { class: "snippet", text: text.length > 400 ? text.slice(0, 400) + "…" : text }));
    }
    item.append(rawDetails(hit));
    list.append(item);
  });
}

function pickImage(event) {
  event.preventDefault();
  if (imageSearch) $("image").click();
}

function setupDrop() {
  const drop = $("drop");
  $("pick").addEventListener("click", pickImage);
  $("image").addEventListener("change", () => { if ($("image").files[0]) { setImage($("image").files[0]); search(); } });
  $("clear-image").addEventListener("click", () => setImage(null));
  drop.addEventListener("dragover", (e) => { e.preventDefault(); if (imageSearch) drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const file = e.dataTransfer.files[0];
    if (imageSearch && file && file.type.startsWith("image/")) { setImage(file); search(); }
  });
}

$("search-form").addEventListener("submit", search);
["modality", "mode"].forEach((id) => $(id).addEventListener("change", () => search()));
setupDrop();
loadInfo();
