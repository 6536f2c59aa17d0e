// The official Ollama npm client (pinned in package-lock.json) against mlosd's /api routes.
// Usage: node ollama_client.mjs --url http://127.0.0.1:PORT --model local/tiny-llama
//            --embed-model local/tiny-bert [--api-key KEY] [--long-words N]
// Prints a JSON summary {ok, checks: [{name, ok, detail}]}; exits 1 when any check failed.
import { Ollama } from 'ollama';

function args() {
  const out = { url: '', model: '', embedModel: '', apiKey: '', longWords: 20000 };
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i += 2) {
    const v = a[i + 1];
    if (a[i] === '--url') out.url = v;
    else if (a[i] === '--model') out.model = v;
    else if (a[i] === '--embed-model') out.embedModel = v;
    else if (a[i] === '--api-key') out.apiKey = v;
    else if (a[i] === '--long-words') out.longWords = Number(v);
    else throw new Error(`unknown argument ${a[i]}`);
  }
  if (!out.url || !out.model) throw new Error('--url and --model are required');
  return out;
}

const opts = args();
const client = new Ollama({
  host: opts.url,
  headers: opts.apiKey ? { Authorization: `Bearer ${opts.apiKey}` } : undefined,
});
// Ollama's own naming: "name:tag" with "latest" for the default version.
const model = `${opts.model}:latest`;
const checks = [];

async function check(name, fn) {
  try {
    const detail = await fn();
    checks.push({ name, ok: true, detail: detail ?? null });
  } catch (e) {
    checks.push({ name, ok: false, detail: String(e && e.stack ? e.stack : e) });
  }
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

// The call must fail with the client's ResponseError carrying a 4xx status (or exactly `status`).
async function expectResponseError(fn, status) {
  try {
    await fn();
  } catch (e) {
    assert(e.name === 'ResponseError', `not a ResponseError: ${e}`);
    if (status) assert(e.status_code === status, `status ${e.status_code}, want ${status}: ${e.message}`);
    else assert(e.status_code >= 400 && e.status_code < 500, `status ${e.status_code} is not 4xx: ${e.message}`);
    return { status: e.status_code, message: e.message };
  }
  throw new Error('the call succeeded');
}

const options = { temperature: 0, num_predict: 8 };
const messages = [{ role: 'user', content: 'Say hello.' }];

await check('list (tags)', async () => {
  const r = await client.list();
  const names = r.models.map((m) => m.name);
  assert(names.includes(model), `${model} not in ${JSON.stringify(names)}`);
  const m = r.models.find((x) => x.name === model);
  assert(m.details.format === 'gguf', `format ${m.details.format}`);
  return r.models.map((x) => ({ name: x.name, details: x.details }));
});

await check('show', async () => {
  const r = await client.show({ model });
  assert(r.details && r.details.format === 'gguf', `details ${JSON.stringify(r.details)}`);
  assert(r.model_info && r.model_info['general.architecture'], `model_info ${JSON.stringify(r.model_info)}`);
  return { details: r.details, model_info: r.model_info };
});

let firstText = null;
await check('chat non-streaming', async () => {
  const r = await client.chat({ model, messages, options, stream: false });
  assert(r.done === true, 'not done');
  assert(r.message.role === 'assistant', `role ${r.message.role}`);
  assert(typeof r.message.content === 'string', 'no content');
  assert(['stop', 'length'].includes(r.done_reason), `done_reason ${r.done_reason}`);
  assert(r.prompt_eval_count > 0, 'prompt_eval_count');
  assert(r.eval_count <= 8, `eval_count ${r.eval_count}`);
  assert(r.total_duration > 0, 'total_duration');
  firstText = r.message.content;
  return { text: r.message.content, eval_count: r.eval_count, done_reason: r.done_reason };
});

await check('temperature 0 is deterministic', async () => {
  const r = await client.chat({ model, messages, options, stream: false });
  assert(r.message.content === firstText,
         `${JSON.stringify(r.message.content)} != ${JSON.stringify(firstText)}`);
  return r.message.content;
});

await check('chat streaming', async () => {
  const stream = await client.chat({ model, messages, options, stream: true });
  let text = '';
  let parts = 0;
  let last = null;
  for await (const part of stream) {
    parts++;
    text += part.message.content;
    last = part;
  }
  assert(last && last.done === true, 'no final part');
  assert(last.eval_count > 0, `eval_count ${last.eval_count}`);
  assert(text === firstText, `streamed ${JSON.stringify(text)} != ${JSON.stringify(firstText)}`);
  return { parts, text, done_reason: last.done_reason };
});

await check('generate', async () => {
  const r = await client.generate({ model, prompt: 'Once upon a time', raw: true, options, stream: false });
  assert(r.done === true && typeof r.response === 'string', JSON.stringify(r));
  const s = await client.generate({ model, prompt: 'Once upon a time', raw: true, options, stream: true });
  let streamed = '';
  for await (const part of s) streamed += part.response;
  assert(streamed === r.response, `${JSON.stringify(streamed)} != ${JSON.stringify(r.response)}`);
  return r.response;
});

await check('ps', async () => {
  const r = await client.ps();
  const names = r.models.map((m) => m.name);
  assert(names.includes(model), `${model} not loaded: ${JSON.stringify(names)}`);
  return r.models.map((m) => ({ name: m.name, size: m.size, expires_at: m.expires_at }));
});

if (opts.embedModel) {
  await check('embed', async () => {
    const r = await client.embed({ model: `${opts.embedModel}:latest`, input: ['hello world', 'goodbye'] });
    assert(r.embeddings.length === 2, `embeddings ${r.embeddings.length}`);
    const dim = r.embeddings[0].length;
    assert(dim > 0 && r.embeddings[1].length === dim, 'dims');
    const norm = Math.sqrt(r.embeddings[0].reduce((s, x) => s + x * x, 0));
    assert(Math.abs(norm - 1) < 1e-3, `norm ${norm}`);
    const legacy = await client.embeddings({ model: opts.embedModel, prompt: 'hello world' });
    const diff = Math.max(...legacy.embedding.map((x, i) => Math.abs(x - r.embeddings[0][i])));
    assert(diff < 1e-5, `/api/embeddings differs by ${diff}`);
    return { dim, norm };
  });
}

await check('abort mid-stream', async () => {
  const stream = await client.chat({
    model, messages, options: { temperature: 0.8, num_predict: 400 }, stream: true,
  });
  let parts = 0;
  try {
    for await (const part of stream) {
      if (part.message.content) parts++;
      if (parts === 2) stream.abort();
    }
  } catch (e) {
    assert(e.name === 'AbortError', `unexpected ${e}`);
    return { parts, error: e.name };
  }
  assert(parts < 2, 'the stream went on after abort()');
  return { parts, error: null };
});

await check('unknown model is 404', async () =>
  expectResponseError(() => client.chat({ model: 'local/no-such-model:latest', messages, stream: false }), 404));
await check('bad option is 400', async () =>
  expectResponseError(() => client.chat({ model, messages, options: { temperature: 'hot' }, stream: false }), 400));
await check('num_predict below -2 is 400', async () =>
  expectResponseError(() => client.chat({ model, messages, options: { num_predict: -5 }, stream: false }), 400));
await check('prompt longer than the context is 4xx', async () =>
  expectResponseError(() => client.chat({
    model, messages: [{ role: 'user', content: 'hello '.repeat(opts.longWords) }], stream: false,
  })));
await check('empty messages loads the model (Ollama semantics)', async () => {
  const r = await client.chat({ model, messages: [], stream: false });
  assert(r.done === true && r.done_reason === 'load', JSON.stringify(r));
  return r.done_reason;
});

const ok = checks.every((c) => c.ok);
console.log(JSON.stringify({ client: 'ollama', ok, checks }, null, 1));
process.exit(ok ? 0 : 1);
