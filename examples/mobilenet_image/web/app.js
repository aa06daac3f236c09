// app.js - the mobilenet_image demo page: sends an image as the request
// body to the model (the page lives at /models/<name>/web/, the model at
// /models/<name>) and shows the top-5 it answers, or the error.

const endpoint = new URL("..", window.location.href);
endpoint.pathname = endpoint.pathname.replace(/\/$/, "");

const $ = (id) => document.getElementById(id);
const statusLine = $("status");
const list = $("top5");
const preview = $("preview");

$("endpoint").textContent = endpoint.pathname;
$("curl").textContent =
  `curl -H 'Content-Type: image/jpeg' --data-binary @photo.jpg ${endpoint.href}`;

function show(message, isError) {
  statusLine.textContent = message;
  statusLine.className = isError ? "error" : "";
}

function render(top5) {
  list.replaceChildren();
  for (const { label, score } of top5) {
    const item = document.createElement("li");
    const name = document.createElement("span");
    const bar = document.createElement("span");
    const pct = document.createElement("span");
    name.textContent = label;
    bar.className = "bar";
    bar.style.width = `${Math.max(1, Math.round(score * 100))}%`;
    pct.className = "pct";
    pct.textContent = `${(score * 100).toFixed(1)}%`;
    item.append(name, bar, pct);
    list.append(item);
  }
}

async function classify(file) {
  if (!file) return;
  if (!["image/jpeg", "image/png"].includes(file.type)) {
    show(`${file.name}: only JPEG and PNG images are accepted (got ${file.type || "an unknown type"})`, true);
    return;
  }
  // a data: URL: the page's Content-Security-Policy allows no blob: images
  const reader = new FileReader();
  reader.onload = () => {
    preview.src = reader.result;
    preview.hidden = false;
  };
  reader.readAsDataURL(file);
  list.replaceChildren();
  show(`sending ${file.name} (${file.size} bytes) ...`, false);
  const t0 = performance.now();
  let response;
  try {
    response = await fetch(endpoint, {
      method: "POST",
      headers: { "Content-Type": file.type },
      body: file,
    });
  } catch (err) {
    show(`the request failed: ${err.message}`, true);
    return;
  }
  const ms = Math.round(performance.now() - t0);
  let answer;
  try {
    answer = await response.json();
  } catch {
    show(`HTTP ${response.status}: the answer is not JSON`, true);
    return;
  }
  if (!response.ok) {
    show(`HTTP ${response.status}: ${answer.error || JSON.stringify(answer)}`, true);
    return;
  }
  render(answer.top5 || []);
  show(`answered in ${ms} ms`, false);
}

const drop = $("drop");
$("file").addEventListener("change", (e) => classify(e.target.files[0]));
drop.addEventListener("dragover", (e) => {
  e.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  classify(e.dataTransfer.files[0]);
});
