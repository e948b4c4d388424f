// Hyperpixel Flow page: plain JS over the JSON API of `hpf serve` (README, "Web page").
'use strict';

const $ = id => document.getElementById(id);
const SVG = 'http://www.w3.org/2000/svg';
const state = {
  source: null, target: null,          // {id, width, height, name}
  points: [],                          // [{x, y}] in original source pixels
  matches: [],                         // API points, same order
  selected: -1,                        // the point whose heat map is shown
  serverDefaults: null,
  matchSeq: 0, heatSeq: 0, busy: 0,
  hyperpixelMatches: null,
};

const MAX_HP_LINES = 250;
const colour = i => `hsl(${(i * 137.508) % 360}, 85%, 45%)`;

function showError(message) { const e = $('error'); e.textContent = message; e.hidden = false; }
function clearError() { $('error').hidden = true; $('error').textContent = ''; }

async function busy(text, work) {
  state.busy++;
  $('busy-text').textContent = text;
  $('busy').hidden = false;
  try { return await work(); }
  finally { if (--state.busy === 0) $('busy').hidden = true; }
}

// The server's token when it needs one: the address hpf serve prints carries it (?token=...).
const token = new URLSearchParams(location.search).get('token');
const withToken = path => token ? `${path}${path.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}` : path;

// Every call: JSON errors of the server become readable messages; a network failure says so.
async function api(path, options = {}) {
  let response;
  if (token) options = { ...options, headers: { ...(options.headers || {}), 'X-Hpf-Token': token } };
  try { response = await fetch(path, options); }
  catch (e) { throw new Error(`the server cannot be reached (${e.message})`); }
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { const body = await response.json(); if (body.error) message = body.error; } catch { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

function options() {
  const o = {};
  const d = state.serverDefaults;
  if ($('preset').value && $('preset').value !== d.preset) o.preset = $('preset').value;
  const layers = $('layers').value.trim();
  if (layers) {
    const ids = layers.split(/[ ,]+/).filter(Boolean).map(Number);
    if (ids.some(v => !Number.isInteger(v))) throw new Error(`layers: '${layers}' is not a list of layer ids like 2,4,5,6,7`);
    o.layers = ids;
  }
  const side = Number($('max-side').value);
  if (side && side !== d.max_side) o.max_side = side;
  if ($('fast').checked !== d.fast) o.fast = $('fast').checked;
  return o;
}

function body(extra) {
  return JSON.stringify({ source: state.source.id, target: state.target.id, options: options(), ...extra });
}
const postJson = (path, extra) => api(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: body(extra) });

// ---- images ----
async function upload(side, file) {
  clearError();
  const limit = state.serverDefaults.max_upload_bytes;
  if (file.size > limit) { showError(`${file.name}: ${file.size} bytes, more than the limit of ${Math.round(limit / 1048576)} MB`); return; }
  const form = new FormData();
  form.append('file', file, file.name);
  try {
    const image = await busy(`Reading ${file.name} and computing its hyperpixels…`,
      async () => (await api('/api/images', { method: 'POST', body: form })).json());
    setImage(side, image);
  } catch (e) { showError(`${file.name}: ${e.message}`); }
}

async function loadExample() {
  clearError();
  try {
    const pair = await busy('Loading the example pair…', async () => (await api(`/api/examples/${$('example').value}`, { method: 'POST' })).json());
    setImage('source', pair.source);
    setImage('target', pair.target);
  } catch (e) { showError(`example: ${e.message}`); }
}

function setImage(side, image) {
  state[side] = image;
  const img = $(`${side}-img`);
  img.onload = () => { drawAll(); };
  img.src = withToken(`/api/images/${image.id}`);
  $(`${side}-view`).hidden = false;
  $(`${side}-svg`).setAttribute('viewBox', `0 0 ${image.width} ${image.height}`);
  if (side === 'source') { state.points = []; state.matches = []; state.selected = -1; }
  if (side === 'target') { const c = $('heat'); c.width = image.width; c.height = image.height; }
  pairChanged();
}

function pairChanged() {
  state.hyperpixelMatches = null;
  $('flow-img').removeAttribute('src');
  $('warp-img').removeAttribute('src');
  clearHeat();
  state.matches = state.matches.map(() => null);
  $('download').disabled = !(state.source && state.target);
  if (state.source && state.target) { match(); refreshViews(); }
  drawAll();
}

// ---- matching ----
async function match() {
  if (!(state.source && state.target)) return;
  const seq = ++state.matchSeq;
  if (state.points.length === 0) { state.matches = []; drawAll(); return; }
  try {
    const result = await busy('Matching…', async () =>
      (await postJson('/api/match', { points: state.points.map(p => [p.x, p.y]) })).json());
    if (seq !== state.matchSeq) return;            // a newer request is on its way
    clearError();
    state.matches = result.points;
    $('timing').textContent = `${result.method}; layers ${result.layers.join(',')}; server ${result.server_ms} ms`;
    drawAll();
    if ($('show-heat').checked) heat();
  } catch (e) { if (seq === state.matchSeq) showError(e.message); }
}

async function heat() {
  const i = state.selected;
  if (!(state.source && state.target) || i < 0 || i >= state.points.length) { clearHeat(); return; }
  const seq = ++state.heatSeq;
  try {
    const map = await busy('Heat map…', async () =>
      (await postJson('/api/heatmap', { point: [state.points[i].x, state.points[i].y] })).json());
    if (seq !== state.heatSeq) return;
    drawHeat(map);
  } catch (e) { if (seq === state.heatSeq) showError(`heat map: ${e.message}`); }
}

function clearHeat() {
  const c = $('heat');
  c.getContext('2d').clearRect(0, 0, c.width, c.height);
  c.dataset.rendered = 'false';
}

// A perceptual-ish ramp: transparent dark blue for weak answers to opaque yellow for the strongest.
function ramp(v) {
  const stops = [[0, [48, 18, 59]], [0.35, [40, 120, 230]], [0.65, [30, 200, 120]], [1, [250, 230, 30]]];
  let k = 1; while (k < stops.length - 1 && v > stops[k][0]) k++;
  const [a, ca] = stops[k - 1], [b, cb] = stops[k];
  const t = Math.min(1, Math.max(0, (v - a) / (b - a)));
  return ca.map((c, j) => Math.round(c + t * (cb[j] - c)));
}

function drawHeat(map) {
  const c = $('heat'), ctx = c.getContext('2d');
  ctx.clearRect(0, 0, c.width, c.height);
  const cells = document.createElement('canvas');
  cells.width = map.width; cells.height = map.height;
  const cctx = cells.getContext('2d'), pixels = cctx.createImageData(map.width, map.height);
  map.values.forEach((v, n) => {
    const [r, g, b] = ramp(v);
    pixels.data.set([r, g, b, Math.round(255 * Math.min(0.9, 0.04 + 0.9 * v))], 4 * n);
  });
  cctx.putImageData(pixels, 0, 0);
  ctx.imageSmoothingEnabled = true;
  const [x0, y0] = map.first_center, [sx, sy] = map.step;
  ctx.drawImage(cells, x0 - sx / 2, y0 - sy / 2, map.width * sx, map.height * sy);
  c.dataset.rendered = 'true';
}

async function refreshViews() {
  if (!(state.source && state.target)) return;
  const want = { flow: $('show-flow').checked, warped: $('show-warp').checked };
  $('flow-img').hidden = !want.flow; $('flow-legend').hidden = !want.flow;
  $('warp-img').hidden = !want.warped;
  $('hp-caption').hidden = !$('show-hp').checked;
  for (const kind of ['flow', 'warped']) {
    const img = $(kind === 'flow' ? 'flow-img' : 'warp-img');
    if (!want[kind] || img.getAttribute('src')) continue;
    try {
      const response = await busy(`Drawing the ${kind === 'flow' ? 'flow' : 'warped source'}…`, () => postJson(`/api/pictures/${kind}`, {}));
      if (kind === 'flow') $('flow-scale').textContent = response.headers.get('X-Full-Colour-Px');
      img.src = URL.createObjectURL(await response.blob());
    } catch (e) { showError(`${kind}: ${e.message}`); }
  }
  if ($('show-hp').checked && !state.hyperpixelMatches) {
    try {
      // The most confident ones, so that the lines stay readable.
      const all = (await busy('Hyperpixel matches…', async () => (await postJson('/api/hyperpixel-matches', {})).json())).matches;
      state.hyperpixelMatches = all.sort((a, b) => b[4] - a[4]).slice(0, MAX_HP_LINES);
      $('hp-caption').textContent = `${state.hyperpixelMatches.length} of ${all.length} mutual hyperpixel matches drawn (the most confident; green = sure, red = doubtful)`;
    } catch (e) { showError(`hyperpixel matches: ${e.message}`); }
  }
  drawAll();
}

// ---- drawing ----
function el(name, attrs, parent) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  parent.appendChild(e);
  return e;
}

function drawAll() {
  const s = state.source, t = state.target;
  const ssvg = $('source-svg'), tsvg = $('target-svg');
  ssvg.replaceChildren(); tsvg.replaceChildren();
  if (s) {
    const r = Math.max(s.width, s.height) / 90;
    state.points.forEach((p, i) => {
      const m = el('circle', { cx: p.x, cy: p.y, r, fill: colour(i), class: 'source-marker', 'data-index': i, 'stroke-width': r / 3 }, ssvg);
      m.addEventListener('pointerdown', e => startDrag(e, i));
      m.addEventListener('contextmenu', e => { e.preventDefault(); removePoint(i); });
      el('text', { x: p.x + r * 1.3, y: p.y - r * 1.3, fill: colour(i), class: 'marker-label', 'font-size': r * 2.6 }, ssvg).textContent = i + 1;
    });
  }
  if (t) {
    const r = Math.max(t.width, t.height) / 90;
    state.matches.forEach((m, i) => {
      if (!m) return;
      const [x, y] = m.target;
      el('circle', { cx: x, cy: y, r: r * 1.1, stroke: colour(i), 'stroke-width': r / 2, class: 'target-marker', 'data-index': i,
        'stroke-opacity': 0.35 + 0.65 * opacity(m) }, tsvg);
      el('circle', { cx: x, cy: y, r: r * 0.55, fill: confidenceColour(m.confidence), class: 'confidence-dot', 'data-index': i }, tsvg);
      el('text', { x: x + r * 1.3, y: y - r * 1.3, fill: colour(i), class: 'marker-label', 'font-size': r * 2.6 }, tsvg).textContent = i + 1;
    });
  }
  drawLinks();
  drawTable();
}

// A point's calibrated confidence (probability of being right) as a colour: red = doubtful, green = sure; grey when
// the settings have no calibration (confidence null).
const confidenceColour = c => c == null ? '#888' : `hsl(${Math.round(120 * c)}, 75%, 40%)`;
const opacity = m => m.confidence ?? m.score ?? 1;

// Lines across the two panels, in page pixels of the stage.
function drawLinks() {
  const links = $('links');
  links.replaceChildren();
  const s = state.source, t = state.target;
  if (!(s && t) || $('source-view').hidden || $('target-view').hidden) return;
  const stage = $('stage').getBoundingClientRect();
  const sr = $('source-img').getBoundingClientRect(), tr = $('target-img').getBoundingClientRect();
  if (!sr.width || !tr.width) return;
  const sp = (x, y) => [sr.left - stage.left + x * sr.width / s.width, sr.top - stage.top + y * sr.height / s.height];
  const tp = (x, y) => [tr.left - stage.left + x * tr.width / t.width, tr.top - stage.top + y * tr.height / t.height];
  if ($('show-hp').checked && state.hyperpixelMatches) {
    for (const [x1, y1, x2, y2, c] of state.hyperpixelMatches) {
      const [a, b] = sp(x1, y1), [d, e] = tp(x2, y2);
      el('line', { x1: a, y1: b, x2: d, y2: e, stroke: `hsl(${120 * c}, 80%, 40%)`, 'stroke-width': 0.7, 'stroke-opacity': 0.25 + 0.5 * c, class: 'hp-line' }, links);
    }
  }
  state.matches.forEach((m, i) => {
    if (!m) return;
    const [a, b] = sp(state.points[i].x, state.points[i].y), [d, e] = tp(m.target[0], m.target[1]);
    el('line', { x1: a, y1: b, x2: d, y2: e, stroke: colour(i), 'stroke-width': 1.6, 'stroke-opacity': 0.3 + 0.6 * opacity(m) }, links);
  });
}

const fmt = v => v.toFixed(1);
function drawTable() {
  const rows = $('point-rows');
  rows.replaceChildren();
  state.points.forEach((p, i) => {
    const m = state.matches[i];
    const tr = document.createElement('tr');
    tr.dataset.index = i;
    if (i === state.selected) tr.style.background = '#eff4ff';
    tr.innerHTML = `<td><span class="swatch" style="background:${colour(i)}"></span>${i + 1}</td>` +
      `<td class="src">${fmt(p.x)}, ${fmt(p.y)}</td><td>→</td>` +
      `<td class="trg">${m ? `${fmt(m.target[0])}, ${fmt(m.target[1])}` : '…'}</td>` +
      `<td class="confidence">${!m ? '' : m.confidence == null ? '–' : `<span style="color:${confidenceColour(m.confidence)}">${(100 * m.confidence).toFixed(0)} %</span>`}</td>` +
      `<td>${m ? (m.mutual ? 'yes' : 'no') : ''}</td>` +
      `<td><button type="button" class="remove" title="remove point ${i + 1}">×</button></td>`;
    tr.querySelector('.remove').addEventListener('click', () => removePoint(i));
    tr.addEventListener('click', e => { if (e.target.tagName !== 'BUTTON') { state.selected = i; drawTable(); heat(); } });
    rows.appendChild(tr);
  });
}

// ---- points ----
function svgPoint(svg, event) {
  const pt = new DOMPoint(event.clientX, event.clientY).matrixTransform(svg.getScreenCTM().inverse());
  const s = state.source;
  return { x: Math.round(Math.min(s.width - 1, Math.max(0, pt.x)) * 10) / 10, y: Math.round(Math.min(s.height - 1, Math.max(0, pt.y)) * 10) / 10 };
}

function addPoint(event) {
  if (!state.source || event.button !== 0 || event.target.classList.contains('source-marker')) return;
  if (state.points.length >= state.serverDefaults.max_points) { showError(`at most ${state.serverDefaults.max_points} points`); return; }
  state.points.push(svgPoint($('source-svg'), event));
  state.matches.push(null);
  state.selected = state.points.length - 1;
  drawAll();
  match();
}

function removePoint(i) {
  state.points.splice(i, 1);
  state.matches.splice(i, 1);
  state.selected = Math.min(state.selected, state.points.length - 1);
  drawAll();
  match();
}

function startDrag(event, i) {
  if (event.button !== 0) return;
  event.preventDefault();
  const svg = $('source-svg');
  svg.setPointerCapture(event.pointerId);
  state.selected = i;
  let pending = false;
  const move = e => {
    state.points[i] = svgPoint(svg, e);
    drawAll();
    if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; match(); }); }
  };
  const up = () => { svg.removeEventListener('pointermove', move); svg.removeEventListener('pointerup', up); match(); };
  svg.addEventListener('pointermove', move);
  svg.addEventListener('pointerup', up);
}

// ---- download ----
async function download() {
  try {
    const blob = await busy('Preparing result.json…', async () =>
      (await postJson('/api/result', { points: state.points.map(p => [p.x, p.y]) })).blob());
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = 'result.json';
    document.body.appendChild(a); a.click(); a.remove();
  } catch (e) { showError(`download: ${e.message}`); }
}

// ---- wiring ----
function wireDrop(side) {
  const drop = $(`${side}-drop`), input = $(`${side}-file`);
  input.addEventListener('change', () => { if (input.files[0]) upload(side, input.files[0]); input.value = ''; });
  drop.addEventListener('dragover', e => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', e => { e.preventDefault(); drop.classList.remove('over'); if (e.dataTransfer.files[0]) upload(side, e.dataTransfer.files[0]); });
}

async function init() {
  wireDrop('source'); wireDrop('target');
  $('source-svg').addEventListener('pointerdown', addPoint);
  $('source-svg').addEventListener('contextmenu', e => e.preventDefault());
  $('load-example').addEventListener('click', loadExample);
  $('clear').addEventListener('click', () => { state.points = []; state.matches = []; state.selected = -1; clearHeat(); drawAll(); });
  $('download').addEventListener('click', download);
  $('show-heat').addEventListener('change', () => { $('heat').hidden = !$('show-heat').checked; if ($('show-heat').checked) heat(); });
  for (const id of ['show-flow', 'show-warp', 'show-hp']) $(id).addEventListener('change', refreshViews);
  $('options').addEventListener('change', () => {
    try { options(); } catch (e) { showError(e.message); return; }
    clearError(); pairChanged();
  });
  $('options').addEventListener('submit', e => e.preventDefault());
  window.addEventListener('resize', drawLinks);
  try {
    const [defaults, examples] = await Promise.all([(await api('/api/options')).json(), (await api('/api/examples')).json()]);
    state.serverDefaults = defaults;
    for (const p of defaults.presets) $('preset').add(new Option(p.name, p.name, false, p.name === defaults.preset));
    if (!defaults.preset) $('preset').add(new Option('(server settings)', '', true, true));
    $('layers').placeholder = defaults.layers.join(',');
    $('max-side').value = defaults.max_side;
    $('fast').checked = defaults.fast;
    $('defaults').textContent = `defaults: ${defaults.preset ?? 'server settings'}, layers ${defaults.layers.join(',')}, max side ${defaults.max_side}, coarse target grid ${defaults.fast ? 'on' : 'off'} (${defaults.backbone})`;
    for (const e of examples) $('example').add(new Option(e.title, e.name));
    document.body.dataset.ready = 'true';
  } catch (e) { showError(`the page could not start: ${e.message}`); }
}

init();
