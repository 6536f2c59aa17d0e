#!/usr/bin/env node
// Benchmark peer for bench/suite.sh: what an engineer would write to serve an ONNX model without
// mlosd — Node's http module on onnxruntime-node (the same ONNX Runtime, 1.29.0, as mlosd), with
// default session options, speaking the KServe v2 JSON endpoints the load generator uses:
//   GET  /v2/health/live, /v2/health/ready, /v2/models/{name}, /v2/models/{name}/ready
//   POST /v2/models/{name}/infer
//        {"inputs":[{"name","datatype","shape","data":[...]}], "outputs":[{"name"}]?}
//     -> {"model_name","outputs":[{"name","datatype","shape","data":[...]}]}
// Usage: node server.js --port P --model NAME=PATH [--model NAME=PATH ...] [--host H]
'use strict';

const http = require('http');
const ort = require('onnxruntime-node');

// KServe datatype <-> onnxruntime-node tensor type and typed array.
const TYPES = {
  FP32: { ort: 'float32', array: Float32Array },
  FP64: { ort: 'float64', array: Float64Array },
  INT8: { ort: 'int8', array: Int8Array },
  UINT8: { ort: 'uint8', array: Uint8Array },
  INT16: { ort: 'int16', array: Int16Array },
  UINT16: { ort: 'uint16', array: Uint16Array },
  INT32: { ort: 'int32', array: Int32Array },
  UINT32: { ort: 'uint32', array: Uint32Array },
  INT64: { ort: 'int64', array: BigInt64Array, big: true },
  UINT64: { ort: 'uint64', array: BigUint64Array, big: true },
  BOOL: { ort: 'bool', array: Uint8Array },
};
const KSERVE_TYPE = Object.fromEntries(Object.entries(TYPES).map(([k, v]) => [v.ort, k]));

class BadRequest extends Error {}

function parseArgs(argv) {
  const args = { host: '127.0.0.1', port: 8000, models: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--port') args.port = Number(val());
    else if (a === '--host') args.host = val();
    else if (a === '--model') {
      const v = val();
      const eq = v.indexOf('=');
      if (eq <= 0) throw new Error(`--model expects NAME=PATH, got ${v}`);
      args.models.push({ name: v.slice(0, eq), path: v.slice(eq + 1) });
    } else if (a === '-h' || a === '--help') {
      console.log('usage: node server.js --port P --model NAME=PATH [--model NAME=PATH ...] [--host H]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isInteger(args.port) || args.port < 0 || args.port > 65535) throw new Error('bad --port');
  if (args.models.length === 0) throw new Error('at least one --model NAME=PATH');
  return args;
}

function send(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

function toTensor(input, session) {
  if (!input || typeof input !== 'object') throw new BadRequest('each input must be an object');
  const { name, datatype, shape } = input;
  let data = input.data;
  if (typeof name !== 'string') throw new BadRequest('input without a name');
  if (!session.inputNames.includes(name)) throw new BadRequest(`unknown input '${name}'`);
  const t = TYPES[datatype];
  if (!t) throw new BadRequest(`input '${name}': unsupported datatype ${JSON.stringify(datatype)}`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new BadRequest(`input '${name}': shape must be an array of non-negative integers`);
  }
  if (!Array.isArray(data)) throw new BadRequest(`input '${name}': data must be an array`);
  if (data.length > 0 && Array.isArray(data[0])) data = data.flat(Infinity);  // nested form
  const count = shape.reduce((a, b) => a * b, 1);
  if (data.length !== count) {
    throw new BadRequest(`input '${name}': shape [${shape}] has ${count} elements, data has ${data.length}`);
  }
  let array;
  try {
    if (t.big) array = t.array.from(data, (v) => BigInt(v));
    else if (datatype === 'BOOL') array = Uint8Array.from(data, (v) => (v ? 1 : 0));
    else array = t.array.from(data);
  } catch (e) {
    throw new BadRequest(`input '${name}': bad data for ${datatype}: ${e.message}`);
  }
  return new ort.Tensor(t.ort, array, shape);
}

function fromTensor(name, tensor) {
  const datatype = KSERVE_TYPE[tensor.type] || tensor.type.toUpperCase();
  let data;
  if (tensor.type === 'int64' || tensor.type === 'uint64') data = Array.from(tensor.data, Number);
  else if (tensor.type === 'bool') data = Array.from(tensor.data, Boolean);
  else data = Array.from(tensor.data);
  return { name, datatype, shape: tensor.dims.slice(), data };
}

async function infer(name, session, body) {
  let req;
  try {
    req = JSON.parse(body);
  } catch (e) {
    throw new BadRequest(`invalid JSON: ${e.message}`);
  }
  if (!req || !Array.isArray(req.inputs)) throw new BadRequest("request needs an 'inputs' array");
  const feeds = {};
  for (const input of req.inputs) feeds[input && input.name] = toTensor(input, session);
  for (const n of session.inputNames) if (!(n in feeds)) throw new BadRequest(`missing input '${n}'`);
  let outputNames = session.outputNames;
  if (req.outputs !== undefined) {
    if (!Array.isArray(req.outputs)) throw new BadRequest("'outputs' must be an array");
    outputNames = req.outputs.map((o) => o && o.name);
    for (const n of outputNames) {
      if (!session.outputNames.includes(n)) throw new BadRequest(`unknown output '${n}'`);
    }
  }
  let results;
  try {
    results = await session.run(feeds, outputNames);
  } catch (e) {
    throw new BadRequest(`inference failed: ${e.message}`);  // shape/type mismatches land here
  }
  return {
    model_name: name,
    outputs: outputNames.map((n) => fromTensor(n, results[n])),
  };
}

async function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`server.js: ${e.message}`);
    process.exit(2);
  }
  const sessions = new Map();
  for (const m of args.models) sessions.set(m.name, await ort.InferenceSession.create(m.path));

  const server = http.createServer((req, res) => {
    let path;
    try {
      path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    } catch {
      return send(res, 400, { error: 'bad URL' });
    }
    if (req.method === 'GET' && (path === '/v2/health/ready' || path === '/v2/health/live')) {
      return send(res, 200, { ready: true });
    }
    const m = /^\/v2\/models\/(.+?)(\/ready|\/infer)?$/.exec(path);
    if (!m) return send(res, 404, { error: `no route for ${req.method} ${path}` });
    const [, name, action] = m;
    const session = sessions.get(name);
    if (!session) return send(res, 404, { error: `unknown model '${name}'` });
    if (req.method === 'GET' && action === undefined) {
      return send(res, 200, {
        name, platform: 'onnxruntime_onnx', inputs: session.inputNames, outputs: session.outputNames,
      });
    }
    if (req.method === 'GET' && action === '/ready') return send(res, 200, { name, ready: true });
    if (req.method !== 'POST' || action !== '/infer') {
      return send(res, 405, { error: `${req.method} not allowed on ${path}` });
    }
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      infer(name, session, Buffer.concat(chunks).toString('utf8')).then(
        (reply) => send(res, 200, reply),
        (e) => send(res, e instanceof BadRequest ? 400 : 500, { error: e.message }),
      );
    });
  });
  server.listen(args.port, args.host, () => {
    console.log(`listening on ${args.host}:${server.address().port}`);
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => {
  console.error(`server.js: ${e.stack || e.message}`);
  process.exit(1);
});
