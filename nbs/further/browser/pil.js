// PIL's resize, ported line for line from Pillow's src/libImaging/Resample.c (8 bits a channel), and the normalisation
// of fastbird's `image_array`: a photo becomes exactly the numbers Python feeds the network. A canvas's own resizing
// (drawImage) filters differently and would move the probabilities; fastbird.web measures by how much.

const PRECISION_BITS = 32 - 8 - 2;  // fixed-point coefficients: 22 bits of fraction
const FILTERS = {
  bilinear: {support: 1, f: x => { x = Math.abs(x); return x < 1 ? 1 - x : 0; }},
  bicubic: {support: 2, f: x => {
    const a = -0.5; x = Math.abs(x);
    if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
    return 0;
  }},
};
export const INTERPOLATIONS = Object.keys(FILTERS);

function coefficients(inSize, outSize, filter) {
  // Pillow's precompute_coeffs (box 0..inSize) then normalize_coeffs_8bpc: for each output pixel, the first input
  // pixel it reads, how many, and their integer weights
  const scale = inSize / outSize, filterscale = Math.max(scale, 1), support = filter.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1, kk = new Int32Array(outSize * ksize), bounds = new Int32Array(outSize * 2);
  const w = new Float64Array(ksize), ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5)), n = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let ww = 0;
    for (let x = 0; x < n; x++) { w[x] = filter.f((x + xmin - center + 0.5) * ss); ww += w[x]; }
    for (let x = 0; x < n; x++) {
      const v = ww !== 0 ? w[x] / ww : w[x];
      kk[xx * ksize + x] = Math.trunc(v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS));
    }
    bounds[2 * xx] = xmin; bounds[2 * xx + 1] = n;
  }
  return {ksize, kk, bounds};
}

const clip8 = s => { const v = s >> PRECISION_BITS; return v < 0 ? 0 : v > 255 ? 255 : v; };

export function resize(rgb, width, height, outW, outH, interpolation) {
  // `rgb` (3 bytes a pixel, row by row) resized to outW x outH as PIL's `Image.resize(size, filter)`
  const filter = FILTERS[interpolation];
  if (!filter) throw new Error(`Unknown interpolation ${interpolation}: use one of ${INTERPOLATIONS.join(', ')}.`);
  const vert = coefficients(height, outH, filter), half = 1 << (PRECISION_BITS - 1);
  const first = vert.bounds[0], last = vert.bounds[2 * outH - 2] + vert.bounds[2 * outH - 1];
  let src = rgb, w = width;
  if (outW !== width) {  // horizontal pass, over the rows the vertical pass will read
    const hor = coefficients(width, outW, filter), rows = last - first, out = new Uint8Array(outW * rows * 3);
    for (let i = 0; i < outH; i++) vert.bounds[2 * i] -= first;
    for (let yy = 0; yy < rows; yy++) {
      const row = (yy + first) * width * 3;
      for (let xx = 0; xx < outW; xx++) {
        const xmin = hor.bounds[2 * xx], n = hor.bounds[2 * xx + 1], k0 = xx * hor.ksize;
        let s0 = half, s1 = half, s2 = half;
        for (let x = 0; x < n; x++) {
          const k = hor.kk[k0 + x], p = row + (x + xmin) * 3;
          s0 += src[p] * k; s1 += src[p + 1] * k; s2 += src[p + 2] * k;
        }
        const o = (yy * outW + xx) * 3;
        out[o] = clip8(s0); out[o + 1] = clip8(s1); out[o + 2] = clip8(s2);
      }
    }
    src = out; w = outW;
  }
  if (outH !== height) {  // vertical pass
    const out = new Uint8Array(w * outH * 3);
    for (let yy = 0; yy < outH; yy++) {
      const ymin = vert.bounds[2 * yy], n = vert.bounds[2 * yy + 1], k0 = yy * vert.ksize;
      for (let xx = 0; xx < w; xx++) {
        let s0 = half, s1 = half, s2 = half;
        for (let y = 0; y < n; y++) {
          const k = vert.kk[k0 + y], p = ((y + ymin) * w + xx) * 3;
          s0 += src[p] * k; s1 += src[p + 1] * k; s2 += src[p + 2] * k;
        }
        const o = (yy * w + xx) * 3;
        out[o] = clip8(s0); out[o + 1] = clip8(s1); out[o + 2] = clip8(s2);
      }
    }
    src = out;
  }
  return src === rgb ? rgb.slice() : src;
}

export function normalise(rgb, size, mean, std, out = new Float32Array(3 * size * size)) {
  // `image_array`'s arithmetic in float32: (pixel / 255 - mean) / std, channels first
  const m = mean.map(Math.fround), s = std.map(Math.fround), plane = size * size;
  for (let i = 0; i < plane; i++)
    for (let c = 0; c < 3; c++) out[c * plane + i] = Math.fround(Math.fround(rgb[3 * i + c] / 255) - m[c]) / s[c];
  return out;
}

export function mirror(x, size) {
  // a (3, size, size) array flipped left-right, as `x[..., ::-1]`
  const out = new Float32Array(x.length);
  for (let r = 0; r < x.length / size; r++)
    for (let i = 0; i < size; i++) out[r * size + i] = x[r * size + size - 1 - i];
  return out;
}
