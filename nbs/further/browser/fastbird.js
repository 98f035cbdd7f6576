// fastbird in the browser: what `fastbird predict` does with a model folder, on the same ONNX graph, in this tab.
// A photo is decoded by the browser, squished and normalised as model.json says (pil.js: PIL's own resampling), run
// through the backbone's graph by onnxruntime-web, and answered by the model's head and its familiarity check.
// Training: features from the same graph, then the linear probe fitted by gradient descent (`fitProbe`).
import {resize, normalise, mirror, INTERPOLATIONS} from './pil.js';
import {readSafetensors, writeSafetensors, halfBits, halfValue, zip} from './files.js';
import {withLinearHead} from './onnx.js';

export const FORMAT = 'fastbird-model', MAX_PIXELS = 50_000_000;  // fastbird.images.MAX_PIXELS
export const FAMILIAR = {k: 3, quantile: 0.02, max: 1000};  // fastbird.model's FAMILIAR_K, FAMILIAR_QUANTILE, FAMILIAR_MAX
export const PROBE = {lr: 0.1, steps: 200, validPct: 0.2, seed: 42};  // the loop of "What happens inside"

let ort = null;
export async function runtime(base) {
  // onnxruntime-web, from this site's own copy (`make web` puts it in ort/), single-threaded unless the page may share memory
  if (ort) return ort;
  try { ort = await import(new URL('ort/ort.wasm.min.mjs', base).href); }
  catch (e) { throw new Error(`The page's copy of onnxruntime-web is missing (${e.message}): run \`make web\` to build it.`); }
  ort.env.wasm.wasmPaths = new URL('ort/', base).href;
  ort.env.wasm.numThreads = globalThis.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
  return ort;
}

async function fetchBytes(url, what) {
  let r;
  try { r = await fetch(url); } catch (e) { throw new Error(`Can't fetch ${what} (${url}): ${e.message}`); }
  if (!r.ok) throw new Error(`Can't fetch ${what} (${url}): HTTP ${r.status}${r.status === 404 ? '; run `make web` to build it' : ''}`);
  return new Uint8Array(await r.arrayBuffer());
}

// ---- reading a photo ----
export class PhotoError extends Error {
  constructor(what, reason) { super(`Can't read ${what} as an image: ${reason}.`); this.reason = reason; }
}

const SIGNATURES = [['JPEG', [0xff, 0xd8, 0xff]], ['PNG', [0x89, 0x50, 0x4e, 0x47]], ['GIF', [0x47, 0x49, 0x46, 0x38]],
                    ['WebP', [0x52, 0x49, 0x46, 0x46]], ['BMP', [0x42, 0x4d]], ['TIFF', [0x49, 0x49, 0x2a, 0]], ['TIFF', [0x4d, 0x4d, 0, 0x2a]]];

function notAnImage(head) {
  // why the browser can't decode a file: in the words of fastbird.images for what isn't an image
  const kind = SIGNATURES.find(([, sig]) => sig.every((b, i) => head[i] === b));
  if (kind && kind[0] === 'TIFF') return 'a TIFF image, which browsers do not read: save it as JPEG or PNG';
  if (kind) return `corrupt image (a ${kind[0]} file the browser can't decode: cut short, or damaged)`;
  const t = new TextDecoder('latin1').decode(head).trimStart().slice(0, 200).toLowerCase();
  if (!t) return 'empty file';
  if (t.startsWith('<!doctype html') || t.startsWith('<html') || t.includes('<body')) return 'not an image (HTML: a web page saved under an image name)';
  if (t.includes('<svg')) return 'not an image (SVG, a drawing format PIL does not read)';
  if (t.startsWith('<')) return 'not an image (HTML or XML text)';
  return 'not an image (unknown data)';
}

export async function readPhoto(blob, name = blob.name || 'the photo') {
  // {rgb, width, height}: the photo decoded upright, transparency onto white, 3 bytes a pixel; PhotoError if it isn't one
  let bmp;
  try { bmp = await createImageBitmap(blob, {imageOrientation: 'from-image', premultiplyAlpha: 'none', colorSpaceConversion: 'none'}); }
  catch { throw new PhotoError(name, notAnImage(new Uint8Array(await blob.slice(0, 512).arrayBuffer()))); }
  return bitmapPixels(bmp, name);
}

export function bitmapPixels(bmp, name = 'the picture') {
  // an ImageBitmap, a video frame or a canvas as {rgb, width, height}
  const width = bmp.width || bmp.videoWidth, height = bmp.height || bmp.videoHeight;
  if (!width || !height) throw new PhotoError(name, 'empty image (no pixels)');
  if (width * height > MAX_PIXELS) throw new PhotoError(name, `decompression bomb (${width} x ${height} pixels, over ${MAX_PIXELS})`);
  const c = new OffscreenCanvas(width, height), ctx = c.getContext('2d', {willReadFrequently: true});
  ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, width, height); ctx.drawImage(bmp, 0, 0);
  if (bmp.close) bmp.close();
  const rgba = ctx.getImageData(0, 0, width, height).data, rgb = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) { rgb[j] = rgba[i]; rgb[j + 1] = rgba[i + 1]; rgb[j + 2] = rgba[i + 2]; }
  return {rgb, width, height};
}

export function canvasResize({rgb, width, height}, size) {
  // the browser's own resizing (drawImage, high quality), for measuring what PIL's resampling changes; not used to answer
  const src = new OffscreenCanvas(width, height), rgba = new Uint8ClampedArray(width * height * 4);
  for (let i = 0, j = 0; j < rgb.length; i += 4, j += 3) { rgba[i] = rgb[j]; rgba[i + 1] = rgb[j + 1]; rgba[i + 2] = rgb[j + 2]; rgba[i + 3] = 255; }
  src.getContext('2d').putImageData(new ImageData(rgba, width, height), 0, 0);
  const dst = new OffscreenCanvas(size, size), ctx = dst.getContext('2d', {willReadFrequently: true});
  ctx.imageSmoothingQuality = 'high'; ctx.drawImage(src, 0, 0, size, size);
  const out = ctx.getImageData(0, 0, size, size).data, res = new Uint8Array(size * size * 3);
  for (let i = 0, j = 0; i < out.length; i += 4, j += 3) { res[j] = out[i]; res[j + 1] = out[i + 1]; res[j + 2] = out[i + 2]; }
  return res;
}

export function photoArray(photo, meta, {resizer = 'pil'} = {}) {
  // the network's input for a photo, as `image_array(img, size, mean, std, interpolation)`: (3, size, size) float32
  const s = meta.size;
  const small = resizer === 'canvas' ? canvasResize(photo, s) : resize(photo.rgb, photo.width, photo.height, s, s, meta.interpolation);
  return normalise(small, s, meta.mean, meta.std);
}

// ---- the backbone and a model's head ----
export class Backbone {
  // the backbone's graph (inputs `image`, outputs `pooled` and `features`), loaded once for every model that uses it
  static async load(url, base) {
    const t0 = performance.now(), ort = await runtime(base), bytes = await fetchBytes(url, 'the backbone graph');
    const t1 = performance.now(), session = await ort.InferenceSession.create(bytes, {executionProviders: ['wasm']});
    const b = Object.assign(new Backbone(), {ort, bytes, session, url});
    b.timing = {fetch: t1 - t0, session: performance.now() - t1};
    return b;
  }
  async run(x, n, size) {
    // x: n photos as (n, 3, size, size) float32 -> {pooled, features} (Float32Arrays, n rows each)
    const out = await this.session.run({image: new this.ort.Tensor('float32', x, [n, 3, size, size])});
    return {pooled: out.pooled.data, features: out.features.data, width: out.features.dims[1], d: out.pooled.dims[1]};
  }
}

export function checkMeta(meta, where) {
  // model.json as this page needs it: what fastbird's loader checks, and a linear head on the shared backbone
  const bad = m => { throw new Error(`${where}: ${m}`); };
  if (!meta || meta.format !== FORMAT) bad(`not a fastbird model description (no "format": "${FORMAT}")`);
  if ((meta.version || 0) > 1) bad(`written by a newer fastbird (format version ${meta.version})`);
  for (const k of ['arch', 'head', 'labels', 'size', 'mean', 'std']) if (!(k in meta)) bad(`lacks ${k}`);
  if (meta.head !== 'linear' || meta.weights !== 'head') bad('only a linear probe on the published backbone (weights "head") runs on this page');
  if (!INTERPOLATIONS.includes(meta.interpolation || 'bilinear')) bad(`unknown interpolation ${meta.interpolation}`);
  return meta;
}

export class Model {
  // a model folder as the page uses it: model.json, the head's weights and the training photos' features
  static async load(url, base) {
    const dir = new URL(url, base), get = (f, what) => fetchBytes(new URL(f, dir), what);
    const meta = checkMeta(JSON.parse(new TextDecoder().decode(await get('model.json', 'model.json'))), new URL('model.json', dir).href);
    const t = readSafetensors((await get('model.safetensors', 'the head')).buffer);
    const fam = meta.familiarity ? readSafetensors((await get('familiar.safetensors', "the training photos' features")).buffer).ref : null;
    return new Model(meta, t['1.2.weight'].data, t['1.2.bias'].data, fam && {ref: fam.data, m: fam.shape[0], ...meta.familiarity});
  }
  constructor(meta, weight, bias, familiar = null) {
    Object.assign(this, {meta, weight, bias, familiar, labels: meta.labels});
    this.d = weight.length / bias.length;
  }
  answer(pooled, features, i = 0) {
    // the Prediction of row i: {label, probs, known, similarity}, as fastbird.model.predictions makes it
    const probs = headProbs(this.weight, this.bias, pooled.subarray(i * this.d, (i + 1) * this.d));
    return this.answerProbs(probs, features, i);
  }
  answerProbs(probs, features, i = 0) {
    const p = Object.fromEntries(this.labels.map((l, j) => [l, probs[j]]));
    const label = this.labels[probs.indexOf(Math.max(...probs))];
    if (!this.familiar) return {label, probs: p, known: null, similarity: null};
    const width = this.familiar.ref.length / this.familiar.m;
    const s = similarity(features.subarray(i * width, (i + 1) * width), this.familiar.ref, this.familiar.m, this.familiar.k);
    return {label, probs: p, known: s >= this.familiar.threshold, similarity: s};
  }
}

export function headProbs(weight, bias, x) {
  // softmax(x @ weight.T + bias) for one photo's pooled features x
  const n = bias.length, d = x.length, z = new Float64Array(n);
  for (let i = 0; i < n; i++) { let s = bias[i]; for (let j = 0; j < d; j++) s += weight[i * d + j] * x[j]; z[i] = s; }
  const mx = Math.max(...z), e = z.map(v => Math.exp(v - mx)), tot = e.reduce((a, b) => a + b, 0);
  return Array.from(e, v => v / tot);
}

// ---- "doesn't look like any of": fastbird.model's familiarity check ----
function unit(x) {
  let s = 0; for (let j = 0; j < x.length; j++) s += x[j] * x[j];
  const n = Math.max(Math.sqrt(s), 1e-12); return Float32Array.from(x, v => v / n);
}

function meanTop(values, k) { return values.sort((a, b) => b - a).slice(0, k).reduce((a, b) => a + b, 0) / k; }

export function similarity(x, ref, m, k) {
  // knn_similarity: mean cosine similarity of features x to its k most similar rows of ref (m rows, length 1 each)
  const u = unit(x), d = u.length, sims = new Float64Array(m);
  for (let r = 0; r < m; r++) { let s = 0; for (let j = 0; j < d; j++) s += u[j] * ref[r * d + j]; sims[r] = s; }
  return meanTop(sims, Math.min(k, m));
}

export function quantile(values, q) {
  // numpy.quantile's default ('linear')
  const a = Float64Array.from(values).sort(), h = (a.length - 1) * q, lo = Math.floor(h);
  return lo + 1 < a.length ? a[lo] + (h - lo) * (a[lo + 1] - a[lo]) : a[lo];
}

export function calibrateFamiliarity(features, m, width, {k = FAMILIAR.k, q = FAMILIAR.quantile} = {}) {
  // calibrate_familiarity: the training photos' features scaled to length 1 and kept as float16, and the threshold,
  // the q quantile of each photo's similarity to the other photos (leave-one-out)
  if (m < 2) throw new Error(`Telling familiar photos needs the features of at least 2 training photos, not ${m}.`);
  const ref = new Float32Array(m * width);
  for (let r = 0; r < m; r++) {
    const u = unit(features.subarray(r * width, (r + 1) * width));
    for (let j = 0; j < width; j++) ref[r * width + j] = halfValue(halfBits(u[j]));  // what familiar.safetensors keeps
  }
  const kk = Math.min(k, m - 1), loo = [];
  for (let r = 0; r < m; r++) {
    const sims = [];
    for (let o = 0; o < m; o++) {
      if (o === r) continue;
      let s = 0; for (let j = 0; j < width; j++) s += ref[r * width + j] * ref[o * width + j];
      sims.push(s);
    }
    loo.push(meanTop(sims, kk));
  }
  return {ref, m, k, quantile: q, threshold: quantile(loo, q)};
}

// ---- the linear probe, trained here ----
export function rng(seed) {  // mulberry32: a small seeded generator, so a split is the same every time
  return () => { seed |= 0; seed = seed + 0x6d2b79f5 | 0; let t = Math.imul(seed ^ seed >>> 15, 1 | seed);
    t = t + Math.imul(t ^ t >>> 7, 61 | t) ^ t; return ((t ^ t >>> 14) >>> 0) / 4294967296; };
}

export function holdOut(y, nLabels, pct = PROBE.validPct, seed = PROBE.seed) {
  // indices [train, valid]: a random `pct` of each label's photos held out (at least one of each)
  const r = rng(seed), train = [], valid = [];
  for (let c = 0; c < nLabels; c++) {
    const idx = y.map((v, i) => v === c ? i : -1).filter(i => i >= 0);
    for (let i = idx.length - 1; i > 0; i--) { const j = Math.floor(r() * (i + 1)); [idx[i], idx[j]] = [idx[j], idx[i]]; }
    const nv = Math.max(1, Math.round(idx.length * pct));
    valid.push(...idx.slice(0, nv)); train.push(...idx.slice(nv));
  }
  return [train.sort((a, b) => a - b), valid.sort((a, b) => a - b)];
}

export function fitProbe(X, d, y, nLabels, rows, {lr = PROBE.lr, steps = PROBE.steps, onStep = null} = {}) {
  // Logistic regression by gradient descent, the loop of "What happens inside": standardise each feature with the
  // training photos' mean and spread, start every weight at zero, then `steps` times: results -> loss -> gradients
  // -> update. Softmax over the labels (for two labels, the same model as the lesson's sigmoid). Returns the head as
  // it acts on raw features (the standardising folded into the weights) and the loss after each step.
  const n = rows.length, mean = new Float64Array(d), sd = new Float64Array(d);
  for (const r of rows) for (let j = 0; j < d; j++) mean[j] += X[r * d + j] / n;
  for (const r of rows) for (let j = 0; j < d; j++) sd[j] += (X[r * d + j] - mean[j]) ** 2 / Math.max(n - 1, 1);
  for (let j = 0; j < d; j++) sd[j] = Math.sqrt(sd[j]) + 1e-6;  // torch's std (n - 1) + 1e-6, as the lesson
  const xs = new Float64Array(n * d);
  rows.forEach((r, i) => { for (let j = 0; j < d; j++) xs[i * d + j] = (X[r * d + j] - mean[j]) / sd[j]; });
  const W = new Float64Array(nLabels * d), b = new Float64Array(nLabels), losses = [];
  const gW = new Float64Array(nLabels * d), gb = new Float64Array(nLabels), p = new Float64Array(nLabels);
  for (let step = 0; step <= steps; step++) {
    gW.fill(0); gb.fill(0); let loss = 0;
    for (let i = 0; i < n; i++) {  // results and loss: softmax cross-entropy
      let mx = -Infinity;
      for (let c = 0; c < nLabels; c++) { let s = b[c]; for (let j = 0; j < d; j++) s += W[c * d + j] * xs[i * d + j]; p[c] = s; mx = Math.max(mx, s); }
      let tot = 0; for (let c = 0; c < nLabels; c++) { p[c] = Math.exp(p[c] - mx); tot += p[c]; }
      for (let c = 0; c < nLabels; c++) p[c] /= tot;
      loss -= Math.log(Math.max(p[y[rows[i]]], 1e-300)) / n;
      for (let c = 0; c < nLabels; c++) {  // gradients: (p - onehot) x / n
        const g = (p[c] - (c === y[rows[i]] ? 1 : 0)) / n; gb[c] += g;
        for (let j = 0; j < d; j++) gW[c * d + j] += g * xs[i * d + j];
      }
    }
    losses.push(loss);
    if (onStep) onStep(step, loss);
    if (step === steps) break;
    for (let k = 0; k < W.length; k++) W[k] -= lr * gW[k];  // update (and the gradients start afresh next step)
    for (let c = 0; c < nLabels; c++) b[c] -= lr * gb[c];
  }
  const weight = new Float32Array(nLabels * d), bias = new Float32Array(nLabels);
  for (let c = 0; c < nLabels; c++) {  // W (x - mean) / sd + b == (W / sd) x + (b - sum W mean / sd)
    let s = b[c];
    for (let j = 0; j < d; j++) { weight[c * d + j] = W[c * d + j] / sd[j]; s -= W[c * d + j] * mean[j] / sd[j]; }
    bias[c] = s;
  }
  return {weight, bias, losses};
}

// ---- the model folder a reader downloads ----
export function modelFolder({backbone, meta, weight, bias, familiar, width}) {
  // {file name: bytes} of a fastbird model folder that `fastbird predict` loads: model.json, the head's weights, the
  // training photos' features and model.onnx (the backbone's graph with this head). `meta`: model.json's arch,
  // labels, size, mean, std, interpolation, tta and info.
  const n = meta.labels.length, d = weight.length / n;
  const json = {format: FORMAT, version: 1, arch: meta.arch, head: 'linear', labels: meta.labels, size: meta.size, mean: meta.mean,
                std: meta.std, interpolation: meta.interpolation, tta: !!meta.tta, weights: 'head', outputs: {probs: n, features: width},
                info: meta.info || {}};
  if (familiar) json.familiarity = {photos: familiar.m, k: familiar.k, quantile: familiar.quantile, threshold: familiar.threshold};
  const files = {
    'model.json': new TextEncoder().encode(JSON.stringify(json, null, 2)),
    'model.safetensors': writeSafetensors({'1.2.weight': {dtype: 'F32', shape: [n, d], data: weight},
                                           '1.2.bias': {dtype: 'F32', shape: [n], data: bias}}, {format: FORMAT}),
    'model.onnx': withLinearHead(backbone, {weight, bias, size: meta.size, features: width}),
  };
  if (familiar) files['familiar.safetensors'] = writeSafetensors({ref: {dtype: 'F16', shape: [familiar.m, width], data: familiar.ref}}, {format: FORMAT});
  return files;
}

export function zipFolder(name, files) {
  return zip(Object.fromEntries(Object.entries(files).map(([f, b]) => [`${name}/${f}`, b])));
}
