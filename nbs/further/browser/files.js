// The file formats a fastbird model folder is made of, written and read in the browser: float16 numbers, safetensors
// files and a zip of the folder. Each is a few lines, so the page needs no library for them.

// float32 -> IEEE half bits, rounding to nearest even, as numpy's `astype(np.float16)` does (npy_floatbits_to_halfbits)
const f32 = new Float32Array(1), u32 = new Uint32Array(f32.buffer);
export function halfBits(x) {
  f32[0] = x; const f = u32[0], sign = (f >>> 16) & 0x8000, exp = f & 0x7f800000;
  if (exp >= 0x47800000) {  // too big for a half, infinite or NaN
    if (exp === 0x7f800000 && (f & 0x7fffff)) return sign | 0x7c00 | Math.max(1, (f & 0x7fffff) >>> 13);
    return sign | 0x7c00;
  }
  if (exp <= 0x38000000) {  // a subnormal half, or zero
    if (exp < 0x33000000) return sign;
    const e = exp >>> 23; let sig = 0x800000 + (f & 0x7fffff);
    if (sig & ((1 << (126 - e)) - 1)) sig |= 1;  // what the shift drops still breaks a tie
    sig >>>= 113 - e;
    if ((sig & 0x3fff) !== 0x1000 || (f & 0x7ff)) sig += 0x1000;
    return sign | (sig >>> 13);
  }
  let sig = f & 0x7fffff;
  if ((sig & 0x3fff) !== 0x1000) sig += 0x1000;
  return sign | (((exp - 0x38000000) >>> 13) + (sig >>> 13));  // a carry out of the significand bumps the exponent
}

export function halfValue(h) {
  const sign = h & 0x8000 ? -1 : 1, e = (h >>> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

// safetensors: an 8-byte little-endian header length, a JSON header naming each tensor's dtype, shape and byte range,
// then the raw little-endian data (https://github.com/huggingface/safetensors)
const DTYPES = {F32: [4, Float32Array], F16: [2, Uint16Array]};

export function writeSafetensors(tensors, metadata = {}) {
  // tensors: {name: {dtype: 'F32'|'F16', shape: [...], data: Float32Array (F16: the numbers, rounded here)}}
  const header = {}, parts = []; let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== n) throw new Error(`${name}: ${t.data.length} numbers for shape [${t.shape}]`);
    const bytes = t.dtype === 'F16' ? new Uint8Array(Uint16Array.from(t.data, halfBits).buffer)
                                    : new Uint8Array(Float32Array.from(t.data).buffer);
    header[name] = {dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length]};
    parts.push(bytes); offset += bytes.length;
  }
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);  // the data starts 8-byte aligned, as the Python writer does
  const head = new TextEncoder().encode(json), out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8); let p = 8 + head.length;
  for (const b of parts) { out.set(b, p); p += b.length; }
  return out;
}

export function readSafetensors(buffer) {
  // {name: {dtype, shape, data: Float32Array}}, float16 widened to float32
  const bytes = new Uint8Array(buffer);
  if (bytes.length < 8) throw new Error('not a safetensors file (too short)');
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  if (n > bytes.length - 8) throw new Error('not a safetensors file (its header runs past its end)');
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))), res = {};
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const kind = DTYPES[t.dtype];
    if (!kind) throw new Error(`tensor ${name} has dtype ${t.dtype}; this page reads F32 and F16`);
    const [a, b] = t.data_offsets, raw = bytes.slice(8 + n + a, 8 + n + b), arr = new kind[1](raw.buffer);
    res[name] = {dtype: t.dtype, shape: t.shape, data: t.dtype === 'F16' ? Float32Array.from(arr, halfValue) : arr};
  }
  return res;
}

// A zip of stored (uncompressed) files: the model graph is already dense, so deflating it would gain little
const CRC = new Uint32Array(256).map((_, n) => { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; return c; });
export function crc32(bytes) {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export function zip(files) {
  // files: {path: Uint8Array} -> the bytes of a zip holding them
  const enc = new TextEncoder(), locals = [], centrals = []; let offset = 0;
  const d = new Date(), time = (d.getHours() << 11) | (d.getMinutes() << 5) | (d.getSeconds() >> 1);
  const date = ((d.getFullYear() - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate();
  for (const [path, data] of Object.entries(files)) {
    const name = enc.encode(path), crc = crc32(data), local = new Uint8Array(30 + name.length), lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true); lv.setUint16(4, 20, true); lv.setUint16(6, 0x0800, true);  // UTF-8 names
    lv.setUint16(10, time, true); lv.setUint16(12, date, true); lv.setUint32(14, crc, true);
    lv.setUint32(18, data.length, true); lv.setUint32(22, data.length, true); lv.setUint16(26, name.length, true);
    local.set(name, 30);
    const central = new Uint8Array(46 + name.length), cv = new DataView(central.buffer);
    cv.setUint32(0, 0x02014b50, true); cv.setUint16(4, 20, true); cv.setUint16(6, 20, true); cv.setUint16(8, 0x0800, true);
    cv.setUint16(12, time, true); cv.setUint16(14, date, true); cv.setUint32(16, crc, true);
    cv.setUint32(20, data.length, true); cv.setUint32(24, data.length, true); cv.setUint16(28, name.length, true);
    cv.setUint32(42, offset, true); central.set(name, 46);
    locals.push(local, data); centrals.push(central); offset += local.length + data.length;
  }
  const size = centrals.reduce((a, c) => a + c.length, 0), end = new Uint8Array(22), ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true); ev.setUint16(8, centrals.length, true); ev.setUint16(10, centrals.length, true);
  ev.setUint32(12, size, true); ev.setUint32(16, offset, true);
  return new Blob([...locals, ...centrals, end], {type: 'application/zip'});
}
