// A model folder's model.onnx, made in the browser: the backbone's graph with a linear head added. ONNX files are
// protocol buffers; this walks their wire format (https://protobuf.dev/programming-guides/encoding/), copies every
// field of the backbone's graph as it is, replaces its inputs and outputs, and appends the head's weights and nodes
// (MatMul, Add, Softmax). No protobuf library: the few field numbers used are those of onnx/onnx.proto.

const MODEL = {graph: 7}, GRAPH = {node: 1, initializer: 5, input: 11, output: 12};
const FLOAT = 1;  // TensorProto.DataType

function varint(buf, p) {
  let v = 0, mul = 1, b;
  do { b = buf[p++]; v += (b & 0x7f) * mul; mul *= 128; } while (b & 0x80);
  return [v, p];
}

export function* fields(buf, start = 0, end = buf.length) {
  // {field, wire, start, value: [from, to)} for each field of the message buf[start:end]
  let p = start;
  while (p < end) {
    const at = p; let key, from, to;
    [key, p] = varint(buf, p);
    const field = Math.floor(key / 8), wire = key % 8;
    if (wire === 0) { from = p; [, p] = varint(buf, p); to = p; }
    else if (wire === 1) { from = p; p = to = p + 8; }
    else if (wire === 2) { let n; [n, from] = varint(buf, p); p = to = from + n; }
    else if (wire === 5) { from = p; p = to = p + 4; }
    else throw new Error(`not an ONNX graph: wire type ${wire} at byte ${at}`);
    if (p > end) throw new Error(`not an ONNX graph: a field runs past its message at byte ${at}`);
    yield {field, wire, start: at, from, to};
  }
}

// Writing: each helper returns a list of byte arrays, joined once at the end
const enc = new TextEncoder();
function vbytes(v) { const out = []; do { let b = v % 128; v = Math.floor(v / 128); if (v) b |= 0x80; out.push(b); } while (v); return Uint8Array.from(out); }
const key = (field, wire) => vbytes(field * 8 + wire);
const join = parts => { const n = parts.reduce((a, b) => a + b.length, 0), out = new Uint8Array(n); let p = 0; for (const b of parts) { out.set(b, p); p += b.length; } return out; };
const int = (field, v) => join([key(field, 0), vbytes(v)]);
const bytes = (field, b) => join([key(field, 2), vbytes(b.length), b]);
const str = (field, s) => bytes(field, enc.encode(s));
const msg = (field, ...parts) => bytes(field, join(parts));

function dim(d) { return msg(1, typeof d === 'number' ? int(1, d) : str(2, d)); }  // TensorShapeProto.Dimension
function valueInfo(name, shape) {  // ValueInfoProto: name, TypeProto{tensor_type{elem_type, shape}}
  return join([str(1, name), msg(2, msg(1, int(1, FLOAT), msg(2, ...shape.map(dim))))]);
}
function tensor(name, dims, data) {  // TensorProto: dims, data_type, name, raw_data (little-endian float32)
  return join([...dims.map(d => int(1, d)), int(2, FLOAT), str(8, name), bytes(9, new Uint8Array(Float32Array.from(data).buffer))]);
}
function node(op, inputs, outputs, name, attrs = []) {  // NodeProto: input, output, name, op_type, attribute
  return join([...inputs.map(i => str(1, i)), ...outputs.map(o => str(2, o)), str(3, name), str(4, op), ...attrs]);
}
const intAttr = (name, v) => msg(5, str(1, name), int(3, v), int(20, 2));  // AttributeProto name, i, type INT

export function graphOf(model) {
  // the [from, to) of the GraphProto inside ModelProto bytes
  for (const f of fields(model)) if (f.field === MODEL.graph && f.wire === 2) return [f.from, f.to];
  throw new Error('not an ONNX model: it has no graph');
}

export function withLinearHead(backbone, {weight, bias, size, features, pooled = 'pooled'}) {
  // backbone: bytes of a graph with input `image` and outputs `pooled` (n, d) and `features` (n, width); weight:
  // labels x d numbers (row-major, as torch's Linear), bias: labels numbers. The result: input `image` (n, 3, size,
  // size), outputs `probs` = softmax(pooled @ weight.T + bias) (n, labels) and `features`, as fastbird saves a model.
  const [g0, g1] = graphOf(backbone), n = bias.length, d = weight.length / n;
  if (!Number.isInteger(d)) throw new Error(`a head of ${weight.length} weights for ${n} labels`);
  const kept = [];
  for (const f of fields(backbone, g0, g1))
    if (f.field !== GRAPH.input && f.field !== GRAPH.output) kept.push(backbone.subarray(f.start, f.to));
  const wt = new Float32Array(d * n);  // MatMul wants the weight as (d, labels)
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) wt[j * n + i] = weight[i * d + j];
  const graph = join([
    ...kept,
    bytes(GRAPH.initializer, tensor('head.weight_t', [d, n], wt)),
    bytes(GRAPH.initializer, tensor('head.bias', [n], bias)),
    bytes(GRAPH.node, node('MatMul', [pooled, 'head.weight_t'], ['head.matmul'], 'head/MatMul')),
    bytes(GRAPH.node, node('Add', ['head.matmul', 'head.bias'], ['logits'], 'head/Add')),
    bytes(GRAPH.node, node('Softmax', ['logits'], ['probs'], 'head/Softmax', [intAttr('axis', 1)])),
    bytes(GRAPH.input, valueInfo('image', ['n', 3, size, size])),
    bytes(GRAPH.output, valueInfo('probs', ['n', n])),
    bytes(GRAPH.output, valueInfo('features', ['n', features])),
  ]);
  const top = [];
  for (const f of fields(backbone)) top.push(f.field === MODEL.graph ? bytes(MODEL.graph, graph) : backbone.subarray(f.start, f.to));
  return join(top);
}
