// The page's two demos: "Try it" (a photo in, the model's answer out) and "Train your own here". Each mounts into an
// element with data-fastbird="try" or data-fastbird="train"; everything runs in this tab, nothing is sent anywhere.
import * as fb from './fastbird.js';

const BASE = new URL('./', import.meta.url);
const $ = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) k === 'class' ? e.className = v : k.startsWith('on') ? e.addEventListener(k.slice(2), v) : e.setAttribute(k, v);
  e.append(...kids.filter(k => k !== null && k !== undefined)); return e;
};
const ms = t => t < 1000 ? `${Math.round(t)} ms` : `${(t / 1000).toFixed(1)} s`;
const mb = n => `${(n / 1e6).toFixed(1)} MB`;
const pct = p => `${(100 * p).toFixed(1)}%`;

// ---- the site's backbone and models, loaded once ----
let backboneP = null;
const backboneInfo = () => fetch(new URL('backbones/efficientnet_lite0.json', BASE)).then(r => {
  if (!r.ok) throw new Error(`The backbone's description is missing (HTTP ${r.status}): run \`make web\` to build the page's files.`);
  return r.json();
});
function backbone() {
  backboneP ??= backboneInfo().then(async info => ({info, graph: await fb.Backbone.load(new URL(`backbones/${info.file}`, BASE), BASE)}));
  return backboneP;
}
const models = {};
const model = name => models[name] ??= fb.Model.load(`models/${name}/`, BASE);

// ---- one photo to an answer ----
async function features(graph, photo, meta) {
  // {pooled, features, timing} of one photo (and its mirror image too when model.json asks for tta)
  const t0 = performance.now(), x = fb.photoArray(photo, meta), t1 = performance.now();
  const n = meta.tta ? 2 : 1, batch = meta.tta ? new Float32Array([...x, ...fb.mirror(x, meta.size)]) : x;
  const out = await graph.run(batch, n, meta.size), t2 = performance.now();
  return {...out, n, timing: {resize: t1 - t0, network: t2 - t1}};
}

async function answer(m, graph, photo) {
  const f = await features(graph, photo, m.meta);
  if (f.n === 1) return {...m.answer(f.pooled, f.features), timing: f.timing};
  const p0 = fb.headProbs(m.weight, m.bias, f.pooled.subarray(0, f.d)), p1 = fb.headProbs(m.weight, m.bias, f.pooled.subarray(f.d));
  const feats = f.features.subarray(0, f.width).map((v, j) => (v + f.features[f.width + j]) / 2);
  return {...m.answerProbs(p0.map((p, j) => (p + p1[j]) / 2), feats), timing: f.timing};  // tta: the two averaged
}

function thumb(photo) {
  const c = $('canvas', {class: 'fb-thumb'}), s = 96 / Math.max(photo.width, photo.height);
  c.width = Math.max(1, Math.round(photo.width * s)); c.height = Math.max(1, Math.round(photo.height * s));
  const src = new OffscreenCanvas(photo.width, photo.height), rgba = new Uint8ClampedArray(photo.width * photo.height * 4);
  for (let i = 0, j = 0; j < photo.rgb.length; i += 4, j += 3) { rgba[i] = photo.rgb[j]; rgba[i + 1] = photo.rgb[j + 1]; rgba[i + 2] = photo.rgb[j + 2]; rgba[i + 3] = 255; }
  src.getContext('2d').putImageData(new ImageData(rgba, photo.width, photo.height), 0, 0);
  c.getContext('2d').drawImage(src, 0, 0, c.width, c.height);
  return c;
}

function answerCard(name, photo, a, total) {
  // the label (or "doesn't look like any of"), every label's probability as a bar, and the time it took
  const probs = Object.entries(a.probs), sure = a.known !== false;
  const head = sure ? $('div', {class: 'fb-label-said'}, a.label)
                    : $('div', {class: 'fb-label-said fb-unknown'}, `doesn't look like any of: ${probs.map(p => p[0]).join(', ')}`,
                        $('span', {class: 'fb-choose'}, ` (if it had to choose: ${a.label})`));
  const bars = $('div', {class: 'fb-bars'}, ...probs.map(([l, p]) => $('div', {class: 'fb-bar', 'data-label': l, 'data-prob': String(p)},
    $('span', {class: 'fb-bar-name'}, l), $('span', {class: 'fb-bar-track'}, $('span', {class: 'fb-bar-fill', style: `width:${100 * p}%`})),
    $('span', {class: 'fb-bar-value'}, p.toFixed(4)))));
  const t = a.timing, sim = a.similarity === null ? '' : ` · looks like the training photos: ${a.similarity.toFixed(3)} (threshold ${a.threshold.toFixed(3)})`;
  const foot = $('div', {class: 'fb-time'}, `${ms(total)} for this photo (decode ${ms(t.decode)}, resize ${ms(t.resize)}, network ${ms(t.network)})${sim}`);
  return $('div', {class: 'fb-answer', 'data-file': name, 'data-label': a.label, 'data-known': String(a.known), 'data-similarity': String(a.similarity),
                   'data-probs': JSON.stringify(a.probs), 'data-ms': String(total), 'data-at': String(performance.now())},
           thumb(photo), $('div', {class: 'fb-answer-text'}, $('div', {class: 'fb-file'}, name), head, bars, foot));
}

const errorCard = (name, e) => $('div', {class: 'fb-answer fb-error', 'data-file': name, 'data-at': String(performance.now())}, e.message);

async function decode(item) {
  // {name, photo, decode ms} of a dropped file or a camera frame
  const t0 = performance.now();
  const photo = item.blob ? await fb.readPhoto(item.blob, item.name) : fb.bitmapPixels(item.frame, item.name);
  return {name: item.name, photo, decode: performance.now() - t0};
}

// ---- drop, paste, choose or take a photo ----
let activeZone = null;
document.addEventListener('paste', ev => {
  const files = [...(ev.clipboardData?.files || [])];
  if (files.length && activeZone) { ev.preventDefault(); activeZone.take(files.map(f => ({name: f.name || 'pasted image', blob: f}))); }
});

function dropZone(text, take, {multiple = true} = {}) {
  // a zone that takes dropped, pasted, chosen and camera photos, handing [{name, blob|frame}] to `take`
  const input = $('input', {type: 'file', accept: 'image/*', class: 'fb-file-input', ...(multiple ? {multiple: ''} : {})});
  const video = $('video', {class: 'fb-video', autoplay: '', playsinline: '', muted: ''}), shot = $('button', {type: 'button', class: 'fb-shot'}, 'Take the photo');
  const cam = $('div', {class: 'fb-camera', hidden: ''}, video, shot);
  const camBtn = $('button', {type: 'button', class: 'fb-camera-button'}, 'Use the camera');
  const zone = $('div', {class: 'fb-drop', tabindex: '0'}, $('div', {}, text),
                 $('div', {class: 'fb-drop-how'}, 'drop photos here, paste one (Ctrl+V), ', $('label', {}, 'choose files ', input), ' or ', camBtn), cam);
  const z = {el: zone, take: items => { activeZone = z; take(items); }};
  input.addEventListener('change', () => { z.take([...input.files].map(f => ({name: f.name, blob: f}))); input.value = ''; });
  zone.addEventListener('dragover', ev => { ev.preventDefault(); zone.classList.add('fb-over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('fb-over'));
  zone.addEventListener('drop', ev => { ev.preventDefault(); zone.classList.remove('fb-over'); z.take([...ev.dataTransfer.files].map(f => ({name: f.name, blob: f}))); });
  for (const ev of ['focusin', 'pointerenter']) zone.addEventListener(ev, () => { activeZone = z; });
  let stream = null, shots = 0;
  camBtn.addEventListener('click', async () => {
    if (stream) { stream.getTracks().forEach(t => t.stop()); stream = null; cam.hidden = true; camBtn.textContent = 'Use the camera'; return; }
    try { stream = await navigator.mediaDevices.getUserMedia({video: true}); }
    catch (e) { z.take([{name: 'camera', error: new Error(`The camera can't be used here: ${e.message}`)}]); return; }
    video.srcObject = stream; cam.hidden = false; camBtn.textContent = 'Close the camera';
  });
  shot.addEventListener('click', () => { if (video.videoWidth) z.take([{name: `camera photo ${++shots}`, frame: video}]); });
  return z;
}

// ---- a model as a folder `fastbird predict` loads ----
async function downloadModel(button, name, m, width) {
  // zip the model folder (model.onnx: the backbone's graph with this model's head) and hand it to the browser to save
  const {graph} = await backbone();
  const files = fb.modelFolder({backbone: graph.bytes, meta: m.meta, weight: m.weight, bias: m.bias, familiar: m.familiar, width});
  const blob = fb.zipFolder(name, files), a = $('a', {href: URL.createObjectURL(blob), download: `${name}.zip`});
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
  button.dataset.done = `${name}.zip`; button.dataset.bytes = String(blob.size);
  button.textContent = `Downloaded ${name}.zip (${mb(blob.size)})`;
}
const DOWNLOAD_HINT = 'unzip it, then with Python: fastbird predict FOLDER photo.jpg';

// ---- "Try it" ----
async function mountTry(root) {
  const status = $('div', {class: 'fb-status'}, 'Loading the network...');
  const pick = $('select', {class: 'fb-model'}), results = $('div', {class: 'fb-results'});
  let list = [];
  const zone = dropZone('Is it a bird? Give the model a photo:', async items => {
    for (const item of items) {
      if (item.error) { results.prepend(errorCard(item.name, item.error)); continue; }
      try {
        const {graph} = await backbone(), m = await model(pick.value), d = await decode(item);
        const t0 = performance.now() - d.decode, a = await answer(m, graph, d.photo);
        a.timing.decode = d.decode; a.threshold = m.familiar?.threshold;
        results.prepend(answerCard(item.name, d.photo, a, performance.now() - t0));
      } catch (e) { results.prepend(errorCard(item.name, e)); }
    }
  });
  const save = $('button', {type: 'button', class: 'fb-download'}, 'Download this model');
  save.addEventListener('click', async () => {
    const {info} = await backbone(), m = await model(pick.value);
    await downloadModel(save, `fastbird-${pick.value}`, m, info.outputs.features);
  });
  pick.addEventListener('change', () => { save.textContent = 'Download this model'; delete save.dataset.done; });
  root.append($('div', {class: 'fb-row'}, $('label', {}, 'Model: ', pick), status), zone.el, results,
              $('div', {class: 'fb-row'}, save, $('span', {class: 'fb-hint'}, DOWNLOAD_HINT)));
  activeZone ??= zone;
  try {
    list = (await (await fetch(new URL('models/index.json', BASE))).json()).models;
    for (const m of list) pick.append($('option', {value: m.name}, `${m.name}: ${m.labels.join(' or ')} (validation error ${pct(m.valid_error)})`));
    const t0 = performance.now(), [{info, graph}] = await Promise.all([backbone(), model(pick.value)]);
    status.textContent = `Ready: the ${info.arch} network (${mb(info.bytes)}) loaded in ${ms(performance.now() - t0)}; ` +
                         `${graph.ort.env.wasm.numThreads} thread, onnxruntime-web ${graph.ort.env.versions?.web || ''}.`;
    root.dataset.ready = 'true';
  } catch (e) { status.textContent = e.message; status.classList.add('fb-error'); root.dataset.ready = 'error'; }
}

// ---- "Train your own here" ----
function lossCurve(losses) {
  const w = 240, h = 60, max = Math.max(...losses), pts = losses.map((l, i) => `${(i / (losses.length - 1) * w).toFixed(1)},${(h - l / max * h).toFixed(1)}`);
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', `0 0 ${w} ${h}`); svg.setAttribute('class', 'fb-loss');
  svg.innerHTML = `<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="${pts.join(' ')}"/>`;
  return svg;
}

async function mountTrain(root) {
  const rows = $('div', {class: 'fb-labels'}), status = $('div', {class: 'fb-status'});
  const trainBtn = $('button', {type: 'button', class: 'fb-train', disabled: ''}, 'Train');
  const progress = $('progress', {class: 'fb-progress', value: '0', max: '1', hidden: ''});
  const report = $('div', {class: 'fb-report'}), after = $('div', {class: 'fb-after', hidden: ''});
  const results = $('div', {class: 'fb-results'});
  const download = $('button', {type: 'button', class: 'fb-download'}, 'Download the model folder (zip)');
  const labels = [];
  let trained = null;

  function check() {
    const named = labels.filter(l => l.items.length), names = named.map(l => l.name());
    let why = '';
    if (named.length < 2) why = 'Give photos to at least 2 labels.';
    else if (named.some(l => l.items.length < 5)) why = 'Each label needs at least 5 photos.';
    else if (new Set(names).size < names.length || names.some(n => !n)) why = 'Give each label a different name.';
    trainBtn.disabled = !!why;
    status.textContent = why || `Ready to train on ${named.reduce((a, l) => a + l.items.length, 0)} photos of ${named.length} labels.`;
  }
  function addLabel(placeholder) {
    const name = $('input', {class: 'fb-label-name', placeholder, value: ''}), count = $('span', {class: 'fb-count'}, '0 photos');
    const l = {items: [], name: () => name.value.trim() || placeholder};
    const zone = dropZone('', items => {
      for (const it of items) if (!it.error) l.items.push(it.frame ? snapshot(it) : it);
      count.textContent = `${l.items.length} photo${l.items.length === 1 ? '' : 's'}`; check();
    });
    const el = $('div', {class: 'fb-label-row'}, $('div', {class: 'fb-row'}, $('label', {}, 'Label: ', name), count,
      $('button', {type: 'button', class: 'fb-clear', onclick: () => { l.items = []; count.textContent = '0 photos'; check(); }}, 'clear')), zone.el);
    name.addEventListener('input', check);
    labels.push(l); rows.append(el); check();
  }
  function snapshot(it) {  // a camera frame kept as a PNG, since the video moves on
    const c = document.createElement('canvas'); c.width = it.frame.videoWidth; c.height = it.frame.videoHeight;
    c.getContext('2d').drawImage(it.frame, 0, 0);
    return {name: it.name, blobP: new Promise(r => c.toBlob(r, 'image/png'))};
  }

  trainBtn.addEventListener('click', async () => {
    trainBtn.disabled = true; report.replaceChildren(); after.hidden = true; results.replaceChildren(); trained = null;
    try { trained = await train(); showTrained(trained); }
    catch (e) { report.append($('div', {class: 'fb-error'}, e.message)); }
    finally { progress.hidden = true; check(); }
  });

  async function train() {
    const t0 = performance.now(), {info, graph} = await backbone(), meta = {...info.preprocessing, tta: false};
    const named = labels.filter(l => l.items.length).map(l => ({name: l.name(), items: l.items})).sort((a, b) => a.name < b.name ? -1 : 1);
    const names = named.map(l => l.name), X = [], F = [], y = [], skipped = [];
    const all = named.flatMap((l, c) => l.items.map(it => ({...it, c})));
    progress.hidden = false; progress.max = all.length; progress.value = 0;
    const tf = performance.now();
    for (const it of all) {  // features: the backbone's graph, one photo at a time
      status.textContent = `Features of photo ${progress.value + 1} of ${all.length}...`;
      try {
        const d = await decode(it.blobP ? {name: it.name, blob: await it.blobP} : it), f = await features(graph, d.photo, meta);
        X.push(f.pooled); F.push(f.features); y.push(it.c);
      } catch (e) { skipped.push(e.message); }
      progress.value += 1;
    }
    const featureMs = performance.now() - tf, counts = names.map((_, c) => y.filter(v => v === c).length);
    if (counts.some(n => n < 5)) throw new Error(`After skipping photos that can't be read, ${names.filter((_, c) => counts[c] < 5).join(', ')} ` +
                                                 `has fewer than 5: add photos. ${skipped.join(' ')}`);
    const d = info.outputs.pooled, width = info.outputs.features, n = y.length;
    const Xa = new Float32Array(n * d), Fa = new Float32Array(n * width);
    X.forEach((x, i) => Xa.set(x, i * d)); F.forEach((f, i) => Fa.set(f, i * width));
    status.textContent = 'Fitting the linear probe by gradient descent...';
    await new Promise(r => setTimeout(r, 0));
    const tfit = performance.now(), [tr, va] = fb.holdOut(y, names.length);
    const held = fb.fitProbe(Xa, d, y, names.length, tr);  // first on four fifths, to measure the error on the rest
    const vp = va.map(i => fb.headProbs(held.weight, held.bias, Xa.subarray(i * d, (i + 1) * d)));
    const wrong = va.filter((i, j) => vp[j].indexOf(Math.max(...vp[j])) !== y[i]).length;
    const logLoss = -va.reduce((a, i, j) => a + Math.log(Math.min(1 - 1e-15, Math.max(1e-15, vp[j][y[i]]))), 0) / va.length;
    const all_ = [...Array(n).keys()], fit = fb.fitProbe(Xa, d, y, names.length, all_);  // then on every photo
    let fam = all_;
    if (n > fb.FAMILIAR.max) { const r = fb.rng(0); fam = all_.map(i => [r(), i]).sort((a, b) => a[0] - b[0]).slice(0, fb.FAMILIAR.max).map(p => p[1]).sort((a, b) => a - b); }
    const Ff = new Float32Array(fam.length * width); fam.forEach((i, j) => Ff.set(Fa.subarray(i * width, (i + 1) * width), j * width));
    const familiar = fb.calibrateFamiliarity(Ff, fam.length, width);
    const fitMs = performance.now() - tfit;
    const infoOut = {recipe: 'probe', trained_in: 'browser', optimiser: `gradient descent, lr ${fb.PROBE.lr}, ${fb.PROBE.steps} steps, from zero`,
                     valid_error: wrong / va.length, valid_log_loss: logLoss, n_train: tr.length, n_valid: va.length, refit: true};
    const model = new fb.Model({...meta, arch: info.arch, labels: names, info: infoOut}, fit.weight, fit.bias, familiar);
    return {model, names, held, fit, wrong, va, tr, n, skipped, familiar, width, info: infoOut, meta, arch: info.arch,
            seconds: {total: (performance.now() - t0) / 1000, features: featureMs / 1000, fit: fitMs / 1000}, perPhoto: featureMs / all.length};
  }

  function showTrained(t) {
    const e = t.info.valid_error;
    report.append(
      $('div', {class: 'fb-heldout', 'data-error': String(e), 'data-wrong': String(t.wrong), 'data-valid': String(t.va.length),
                'data-seconds': String(t.seconds.total), 'data-features-seconds': String(t.seconds.features), 'data-fit-seconds': String(t.seconds.fit)},
        `Held out ${t.va.length} of ${t.n} photos (a fifth of each label) and trained on the other ${t.tr.length}: `,
        $('b', {}, `${t.wrong} wrong, error ${pct(e)}`), ` (log loss ${t.info.valid_log_loss.toFixed(3)}).`),
      $('div', {class: 'fb-fit'}, `Loss while fitting (${fb.PROBE.steps} steps): ${t.held.losses[0].toFixed(3)} → ${t.held.losses.at(-1).toFixed(3)} `, lossCurve(t.held.losses)),
      $('div', {}, `Then fitted again on all ${t.n} photos, and calibrated "doesn't look like" on them: ` +
                   `threshold ${t.familiar.threshold.toFixed(3)}, the ${pct(t.familiar.quantile)} quantile of each photo's similarity to the others.`),
      $('div', {class: 'fb-time'}, `${ms(t.seconds.total * 1000)} in all: features ${ms(t.seconds.features * 1000)} (${ms(t.perPhoto)} a photo), ` +
                                   `fitting and calibrating ${ms(t.seconds.fit * 1000)}.`),
      ...(t.skipped.length ? [$('div', {class: 'fb-error'}, `Skipped: ${t.skipped.join(' ')}`)] : []));
    after.hidden = false;
  }

  const testZone = dropZone('Now give your model new photos:', async items => {
    if (!trained) return;
    const {graph} = await backbone();
    for (const item of items) {
      if (item.error) { results.prepend(errorCard(item.name, item.error)); continue; }
      try {
        const d = await decode(item), t0 = performance.now() - d.decode, a = await answer(trained.model, graph, d.photo);
        a.timing.decode = d.decode; a.threshold = trained.familiar.threshold;
        results.prepend(answerCard(item.name, d.photo, a, performance.now() - t0));
      } catch (e) { results.prepend(errorCard(item.name, e)); }
    }
  });
  download.addEventListener('click', () => downloadModel(download, `fastbird-${trained.names.join('-').replace(/[^\w-]+/g, '_').slice(0, 60)}`,
                                                        trained.model, trained.width));
  after.append(testZone.el, $('div', {class: 'fb-row'}, download,
    $('span', {class: 'fb-hint'}, DOWNLOAD_HINT)), results);
  root.append(rows, $('div', {class: 'fb-row'}, $('button', {type: 'button', onclick: () => addLabel(`label ${labels.length + 1}`)}, 'Add a label'),
                      trainBtn, progress, status), report, after);
  addLabel('label 1'); addLabel('label 2');
  backbone().then(() => { root.dataset.ready = 'true'; }, e => { status.textContent = e.message; root.dataset.ready = 'error'; });
}

for (const el of document.querySelectorAll('[data-fastbird]')) {
  el.classList.add('fb-demo');
  (el.dataset.fastbird === 'train' ? mountTrain : mountTry)(el);
}
window.fastbird = fb;  // for the console (and the bench)
