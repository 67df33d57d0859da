#include "serve/page.h"

#include <nlohmann/json.hpp>
#include <string_view>

#include "util/escape.h"

namespace binscan::serve {
namespace {

constexpr std::string_view kHead = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>binscan: find trash bins in photos</title>
<link rel="icon" href="data:,">
<style>
:root { --bg: #fff; --fg: #1b1f23; --muted: #57606a; --line: #d0d7de; --bar: #0969da;
        --card: #f6f8fa; --yes: #1a7f37; --no: #6e7781; --focus: #bf8700; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #0d1117; --fg: #e6edf3; --muted: #9da7b3; --line: #30363d; --bar: #4493f8;
          --card: #161b22; --yes: #3fb950; --no: #8b949e; }
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; font: 16px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
       background: var(--bg); color: var(--fg); }
header, main { max-width: 1100px; margin: 0 auto; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin: 1rem 0 .25rem; }
p.lead { color: var(--muted); margin: 0 0 1rem; }
a { color: var(--bar); }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0);
           white-space: nowrap; }
#drop { display: block; border: 2px dashed var(--line); border-radius: 12px; padding: 2rem 1rem;
        text-align: center; cursor: pointer; background: var(--card); }
#drop.over { border-color: var(--bar); }
#drop strong { color: var(--bar); }
#files:focus-visible + #drop { outline: 3px solid var(--focus); }
.controls { display: flex; flex-wrap: wrap; gap: .75rem 1.5rem; align-items: center; margin: .75rem 0; }
.controls label { color: var(--muted); }
input[type=password], input[type=number], input[type=text], textarea { font: inherit; padding: .25rem .4rem;
  border: 1px solid var(--line); border-radius: 6px; background: var(--bg); color: var(--fg); }
button { font: inherit; padding: .3rem .8rem; border-radius: 6px; border: 1px solid var(--line);
         background: var(--card); color: var(--fg); cursor: pointer; }
#status { min-height: 1.5em; color: var(--muted); }
article.photo { border: 1px solid var(--line); border-radius: 12px; margin: 1rem 0; padding: 1rem; }
article.photo h2 { font-size: 1.05rem; margin: 0 0 .5rem; word-break: break-all; }
.photo-row { display: flex; flex-wrap: wrap; gap: 1rem; }
.photo-row > figure { margin: 0; flex: 0 0 220px; }
.photo-row > figure img { width: 100%; border-radius: 8px; display: block; }
figcaption, .meta { color: var(--muted); font-size: .9rem; }
.models { flex: 1 1 500px; display: grid; gap: 1rem;
          grid-template-columns: repeat(auto-fit, minmax(260px, 1fr)); }
section.model { background: var(--card); border-radius: 10px; padding: .75rem; }
section.model h3 { font-size: .95rem; margin: 0 0 .4rem; word-break: break-all; }
.verdict { display: inline-block; font-weight: 600; padding: .1rem .5rem; border-radius: 999px;
           color: #fff; background: var(--no); font-size: .85rem; }
.verdict.yes { background: var(--yes); }
.view { display: flex; gap: .6rem; align-items: center; margin: .5rem 0; }
.view img { width: 96px; height: 96px; object-fit: contain; border-radius: 6px;
            image-rendering: pixelated; background: #000; }
ol.top { list-style: none; margin: .4rem 0 0; padding: 0; }
ol.top li { display: grid; grid-template-columns: 1fr 4.2em; gap: .1rem .5rem; margin: .3rem 0; }
ol.top .label { grid-column: 1 / -1; font-size: .9rem; overflow-wrap: anywhere; }
ol.top li.bin .label { font-weight: 700; }
.bar { height: .7rem; background: var(--line); border-radius: 4px; overflow: hidden; align-self: center; }
.bar > span { display: block; height: 100%; background: var(--bar); }
.pct { text-align: right; font-variant-numeric: tabular-nums; font-size: .9rem; }
.error { color: #cf222e; }
footer { color: var(--muted); font-size: .85rem; margin: 2rem 0; }
</style>
</head>
<body>
<header>
<h1>binscan</h1>
<p class="lead">Drop street photos to see what each model makes of them: its five best
ImageNet labels, whether it sees a trash bin, and the picture it actually looks at. Everything
runs on this machine; no photo leaves it.</p>
</header>
<main>
<script id="config" type="application/json">)HTML";

constexpr std::string_view kBody = R"HTML(</script>
<div class="controls" id="token-row" hidden>
  <label for="token">API token</label>
  <input id="token" type="password" autocomplete="off" size="28"
         aria-describedby="token-help">
  <span id="token-help" class="meta">sent as "Authorization: Bearer"; kept in this tab only</span>
</div>
<input id="files" class="sr-only" type="file" accept="image/jpeg,image/png,image/webp" multiple>
<label id="drop" for="files">
  <strong>Choose photos</strong> or drop them here<br>
  <span class="meta">JPEG, PNG or WebP; several at once</span>
</label>
<div class="controls" id="labels-row" hidden>
  <label for="labels">Candidate labels for the CLIP models, one per line</label>
  <textarea id="labels" rows="3" cols="40" aria-describedby="labels-help">a public litter bin
an underground waste container
a street with no bin</textarea>
  <label for="template">Template</label>
  <input id="template" type="text" size="24" value="This is a photo of {}.">
  <span id="labels-help" class="meta">each label is put in the template ({} is the label);
  labels holding no, not, without... are "no bin" descriptions</span>
</div>
<div class="controls">
  <span id="models-line" class="meta"></span>
  <span id="survey-links" hidden></span>
  <button id="clear" type="button">Clear results</button>
</div>
<div id="status" role="status" aria-live="polite"></div>
<div id="results"></div>
<footer>binscan serve: the same answers at <code>POST /models/{id}</code> as the Hugging Face
Inference API (raw image bytes or <code>{"inputs": base64}</code>; a CLIP model takes
<code>{"inputs": base64, "parameters": {"candidate_labels": [...]}}</code>). See <a href="/models">/models</a>.</footer>
</main>
<script>
"use strict";
const config = JSON.parse(document.getElementById("config").textContent);
const $ = (id) => document.getElementById(id);
const el = (tag, props, ...children) => {
  const e = document.createElement(tag);
  Object.assign(e, props || {});
  for (const c of children) e.append(c);
  return e;
};
const pct = (x) => (100 * x).toFixed(x >= 0.9995 || x < 0.0005 ? 1 : 2) + "%";

$("models-line").textContent = "Models: " + config.models.map(
    (m) => m.name + (m.revision ? " @ " + m.revision.slice(0, 8) : "")).join(", ");
if (config.token_required) {
  $("token-row").hidden = false;
  $("token").value = sessionStorage.getItem("binscan-token") || "";
  $("token").addEventListener("change", () => sessionStorage.setItem("binscan-token", $("token").value));
}
const headers = () => config.token_required ? {"Authorization": "Bearer " + $("token").value} : {};
// A CLIP model scores the photo against labels typed here (the zero-shot API's parameters).
if (config.models.some((m) => m.zero_shot)) $("labels-row").hidden = false;
const candidateLabels = () => $("labels-row").hidden ? [] :
    $("labels").value.split("\n").map((l) => l.trim()).filter((l) => l.length);
const asDataUrl = (file) => new Promise((resolve, reject) => {
  const reader = new FileReader();
  reader.onload = () => resolve(reader.result);
  reader.onerror = () => reject(reader.error);
  reader.readAsDataURL(file);
});

if (config.survey) {
  const links = $("survey-links");
  links.hidden = false;
  links.append("Survey " + (config.survey_name || "") + ": ");
  for (const [path, text] of [["/survey", "report"], ["/survey/map", "map"]]) {
    const a = el("a", {href: path, textContent: text});
    if (config.token_required) {
      // A link cannot carry the token: fetch the page with it and open what came back.
      a.addEventListener("click", async (ev) => {
        ev.preventDefault();
        const r = await fetch(path, {headers: headers()});
        if (!r.ok) { $("status").textContent = path + ": " + r.status; return; }
        window.open(URL.createObjectURL(await r.blob()), "_blank");
      });
    }
    links.append(a, " ");
  }
}

function metaLine(photo) {
  const parts = [photo.format + ", " + photo.width + " \u00d7 " + photo.height];
  const frag = document.createDocumentFragment();
  if (photo.gps) {
    const {lat, lon} = photo.gps;
    const a = el("a", {
      href: "https://www.openstreetmap.org/?mlat=" + lat + "&mlon=" + lon + "#map=19/" + lat + "/" + lon,
      textContent: lat.toFixed(6) + ", " + lon.toFixed(6), target: "_blank", rel: "noopener"});
    frag.append(parts.join(""), "; GPS ", a);
  } else {
    frag.append(parts.join(""), "; no GPS position");
  }
  if (photo.bearing !== null && photo.bearing !== undefined) {
    frag.append("; facing " + photo.bearing.toFixed(0) + "\u00b0" +
                (photo.bearing_ref === "M" ? " (magnetic)" : ""));
  }
  return frag;
}

function modelCard(m) {
  const card = el("section", {className: "model"});
  card.setAttribute("aria-label", m.model);
  card.dataset.model = m.model;
  card.append(el("h3", {textContent: m.model}));
  if (m.error) {
    card.append(el("p", {className: "error", textContent: m.error}));
    return card;
  }
  if (m.bin_score !== undefined) {
    const yes = m.bin_verdict;
    card.dataset.binScore = m.bin_score;
    card.append(el("span", {className: "verdict" + (yes ? " yes" : ""),
      textContent: (yes ? "Trash bin: yes" : "No trash bin") + " \u2014 bin score " + pct(m.bin_score)}));
  } else {
    card.append(el("span", {className: "verdict", textContent: "no bin label in this model"}));
  }
  if (m.view) {
    const img = el("img", {src: m.view, alt: "What " + m.model + " sees: the photo resized and cropped to its input"});
    card.append(el("div", {className: "view"}, img,
        el("span", {className: "meta", textContent: "what the model sees"})));
  }
  const list = el("ol", {className: "top"});
  list.setAttribute("aria-label", "Top " + m.predictions.length + " labels of " + m.model);
  for (const p of m.predictions) {
    const bar = el("span", {className: "bar"}, el("span"));
    bar.firstChild.style.width = Math.max(0, Math.min(100, 100 * p.score)) + "%";
    bar.setAttribute("role", "meter");
    bar.setAttribute("aria-valuemin", "0");
    bar.setAttribute("aria-valuemax", "100");
    bar.setAttribute("aria-valuenow", (100 * p.score).toFixed(2));
    bar.setAttribute("aria-label", p.label);
    const li = el("li", {}, el("span", {className: "label", textContent: p.label}), bar,
                  el("span", {className: "pct", textContent: pct(p.score)}));
    li.dataset.score = p.score;
    if ((m.bin_labels || []).includes(p.label)) li.className = "bin";
    list.append(li);
  }
  card.append(list);
  return card;
}

async function analyze(file) {
  const article = el("article", {className: "photo"});
  article.dataset.state = "working";
  article.dataset.name = file.name;
  const heading = el("h2", {textContent: file.name});
  heading.id = "photo-" + Math.random().toString(36).slice(2);
  article.setAttribute("aria-labelledby", heading.id);
  const preview = el("img", {src: URL.createObjectURL(file), alt: "The photo " + file.name});
  const caption = el("figcaption", {textContent: "classifying\u2026"});
  const models = el("div", {className: "models"});
  article.append(heading, el("div", {className: "photo-row"}, el("figure", {}, preview, caption), models));
  $("results").prepend(article);
  try {
    const labels = candidateLabels();
    const request = labels.length
      ? {body: JSON.stringify({inputs: await asDataUrl(file), parameters: {
           candidate_labels: labels, hypothesis_template: $("template").value}}),
         type: "application/json"}
      : {body: file, type: file.type || "application/octet-stream"};
    const r = await fetch("/binscan/analyze", {method: "POST", body: request.body,
      headers: Object.assign({"Content-Type": request.type}, headers())});
    const answer = await r.json().catch(() => ({error: "HTTP " + r.status}));
    if (!r.ok) throw new Error(answer.error || ("HTTP " + r.status));
    caption.textContent = "";
    if (answer.photo) caption.append(metaLine(answer.photo));
    for (const m of answer.models) models.append(modelCard(m));
    article.dataset.state = "done";
    return answer.models.some((m) => m.bin_verdict);
  } catch (e) {
    caption.textContent = "";
    caption.append(el("span", {className: "error", textContent: "Not classified: " + e.message}));
    article.dataset.state = "error";
    throw e;
  }
}

async function handle(files) {
  files = [...files];
  if (!files.length) return;
  let done = 0, bins = 0, failed = 0;
  const status = () => {
    $("status").textContent = done + failed < files.length
      ? "Classifying " + (done + failed + 1) + " of " + files.length + "\u2026"
      : files.length + (files.length === 1 ? " photo" : " photos") + " classified" +
        (failed ? ", " + failed + " failed" : "") + "; a bin seen in " + bins + ".";
  };
  status();
  // Two at a time: the server batches what arrives together, and the page stays responsive.
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const file = files[next++];
      try { if (await analyze(file)) bins++; done++; } catch (e) { failed++; }
      status();
    }
  };
  await Promise.all([worker(), worker()]);
}

$("files").addEventListener("change", (ev) => { handle(ev.target.files); ev.target.value = ""; });
const drop = $("drop");
drop.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (ev) => {
  ev.preventDefault();
  drop.classList.remove("over");
  handle(ev.dataTransfer.files);
});
$("clear").addEventListener("click", () => { $("results").replaceChildren(); $("status").textContent = ""; });
</script>
</body>
</html>
)HTML";

}  // namespace

std::string render_page(const PageInfo& info) {
  nlohmann::ordered_json models = nlohmann::ordered_json::array();
  for (const auto& m : info.models)
    models.push_back({{"name", m.name}, {"revision", m.revision}, {"zero_shot", m.zero_shot}});
  std::string config = json_text(nlohmann::ordered_json{{"models", models},
                                                        {"token_required", info.token_required},
                                                        {"survey", info.survey},
                                                        {"survey_name", info.survey_name}});
  // Inside <script>, "</script" or "<!--" would end or confuse it: '<' as a JSON escape.
  std::string safe;
  for (const char c : config) {
    if (c == '<') {
      safe += "\\u003c";
    } else {
      safe += c;
    }
  }
  std::string page;
  page.reserve(kHead.size() + safe.size() + kBody.size());
  page.append(kHead).append(safe).append(kBody);
  return page;
}

}  // namespace binscan::serve
