// The official OpenAI npm client (pinned in package-lock.json) against mlosd's /v1 routes.
// Usage: node openai_client.mjs --url http://127.0.0.1:PORT --model local/tiny-llama
//            --embed-model local/tiny-bert [--api-key KEY] [--long-words N]
// Prints a JSON summary {ok, checks: [{name, ok, detail}]}; exits 1 when any check failed.
import OpenAI from 'openai';

function args() {
  const out = { url: '', model: '', embedModel: '', apiKey: 'mlos-no-key', longWords: 20000 };
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
const client = new OpenAI({
  baseURL: `${opts.url}/v1`,
  apiKey: opts.apiKey,
  maxRetries: 0,
  timeout: 120_000,
});
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

// The call must fail with the client's APIError carrying a 4xx status (or exactly `status`).
async function expectApiError(fn, status) {
  try {
    await fn();
  } catch (e) {
    assert(e instanceof OpenAI.APIError, `not an APIError: ${e}`);
    if (status) assert(e.status === status, `status ${e.status}, want ${status}: ${e.message}`);
    else assert(e.status >= 400 && e.status < 500, `status ${e.status} is not 4xx: ${e.message}`);
    return { status: e.status, type: e.type ?? null, code: e.code ?? null, message: e.message };
  }
  throw new Error('the call succeeded');
}

const chatBody = {
  model: opts.model,
  messages: [{ role: 'user', content: 'Say hello.' }],
  temperature: 0,
  max_tokens: 8,
};

await check('models.list', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert(ids.includes(opts.model), `${opts.model} not in ${JSON.stringify(ids)}`);
  if (opts.embedModel) assert(ids.includes(opts.embedModel), `${opts.embedModel} not listed`);
  return ids;
});

let firstText = null;
await check('chat non-streaming', async () => {
  const r = await client.chat.completions.create(chatBody);
  assert(r.object === 'chat.completion', `object ${r.object}`);
  assert(r.id.startsWith('chatcmpl-'), `id ${r.id}`);
  const c = r.choices[0];
  assert(c.message.role === 'assistant', `role ${c.message.role}`);
  assert(typeof c.message.content === 'string', 'no content');
  assert(['stop', 'length'].includes(c.finish_reason), `finish_reason ${c.finish_reason}`);
  assert(r.usage.prompt_tokens > 0, 'no prompt tokens');
  assert(r.usage.completion_tokens <= 8, `completion_tokens ${r.usage.completion_tokens}`);
  assert(r.usage.total_tokens === r.usage.prompt_tokens + r.usage.completion_tokens, 'total');
  firstText = c.message.content;
  return { text: c.message.content, usage: r.usage, finish_reason: c.finish_reason };
});

await check('temperature 0 is deterministic', async () => {
  const r = await client.chat.completions.create(chatBody);
  assert(r.choices[0].message.content === firstText,
         `${JSON.stringify(r.choices[0].message.content)} != ${JSON.stringify(firstText)}`);
  return r.choices[0].message.content;
});

await check('chat streaming', async () => {
  const stream = await client.chat.completions.create({
    ...chatBody,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let chunks = 0;
  let role = null;
  let finish = null;
  let usage = null;
  for await (const chunk of stream) {
    chunks++;
    assert(chunk.object === 'chat.completion.chunk', `object ${chunk.object}`);
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      if (c.delta.role) role = c.delta.role;
      if (c.delta.content) text += c.delta.content;
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  assert(role === 'assistant', `role ${role}`);
  assert(finish === 'stop' || finish === 'length', `finish ${finish}`);
  assert(usage && usage.completion_tokens > 0, `usage ${JSON.stringify(usage)}`);
  assert(text === firstText, `streamed ${JSON.stringify(text)} != ${JSON.stringify(firstText)}`);
  return { chunks, text, usage };
});

await check('completions', async () => {
  const r = await client.completions.create({
    model: opts.model, prompt: 'Once upon a time', max_tokens: 6, temperature: 0,
  });
  assert(r.object === 'text_completion', `object ${r.object}`);
  assert(typeof r.choices[0].text === 'string', 'no text');
  assert(r.usage.completion_tokens <= 6, `completion_tokens ${r.usage.completion_tokens}`);
  const s = await client.completions.create({
    model: opts.model, prompt: 'Once upon a time', max_tokens: 6, temperature: 0, stream: true,
  });
  let streamed = '';
  for await (const chunk of s) streamed += chunk.choices[0]?.text ?? '';
  assert(streamed === r.choices[0].text, `${JSON.stringify(streamed)} != ${JSON.stringify(r.choices[0].text)}`);
  return r.choices[0].text;
});

if (opts.embedModel) {
  await check('embeddings', async () => {
    // The client asks for base64 by default and decodes it.
    const r = await client.embeddings.create({ model: opts.embedModel, input: ['hello world', 'goodbye'] });
    assert(r.data.length === 2, `data ${r.data.length}`);
    const dims = r.data.map((d) => d.embedding.length);
    assert(dims[0] > 0 && dims[0] === dims[1], `dims ${dims}`);
    const norm = Math.sqrt(r.data[0].embedding.reduce((s, x) => s + x * x, 0));
    assert(Math.abs(norm - 1) < 1e-3, `norm ${norm}`);
    const f = await client.embeddings.create({ model: opts.embedModel, input: 'hello world', encoding_format: 'float' });
    const diff = Math.max(...f.data[0].embedding.map((x, i) => Math.abs(x - r.data[0].embedding[i])));
    assert(diff < 1e-6, `float vs base64 differ by ${diff}`);
    return { dim: dims[0], norm, usage: r.usage };
  });
}

await check('abort mid-stream', async () => {
  const controller = new AbortController();
  const stream = await client.chat.completions.create(
    { ...chatBody, max_tokens: 400, temperature: 0.8, stream: true },
    { signal: controller.signal },
  );
  let chunks = 0;
  let afterAbort = 0;  // chunks the client had already buffered
  let finished = false;
  let error = null;
  try {
    for await (const chunk of stream) {
      if (controller.signal.aborted) afterAbort++;
      if (chunk.choices[0]?.delta?.content) chunks++;
      if (chunk.choices[0]?.finish_reason) finished = true;
      if (chunks === 2 && !controller.signal.aborted) controller.abort();
    }
  } catch (e) {
    // openai's Stream ends quietly on its own abort; other paths raise APIUserAbortError.
    assert(e instanceof OpenAI.APIUserAbortError || e.name === 'AbortError', `unexpected ${e}`);
    error = e.constructor.name;
  }
  assert(controller.signal.aborted, `the stream ended before 2 chunks (${chunks})`);
  assert(!finished, 'the stream ran to its end despite abort()');
  return { chunks, afterAbort, error };
});

await check('unknown model is 404', async () =>
  expectApiError(() => client.chat.completions.create({ ...chatBody, model: 'local/no-such-model' }), 404));
await check('empty messages is 400', async () =>
  expectApiError(() => client.chat.completions.create({ ...chatBody, messages: [] }), 400));
await check('max_tokens < 0 is 400', async () =>
  expectApiError(() => client.chat.completions.create({ ...chatBody, max_tokens: -1 }), 400));
await check('prompt longer than the context is 4xx', async () =>
  expectApiError(() => client.chat.completions.create({
    ...chatBody,
    messages: [{ role: 'user', content: 'hello '.repeat(opts.longWords) }],
  })));
if (opts.embedModel) {
  await check('chat on an embedding model is 400', async () =>
    expectApiError(() => client.chat.completions.create({ ...chatBody, model: opts.embedModel }), 400));
}

const ok = checks.every((c) => c.ok);
console.log(JSON.stringify({ client: 'openai', version: OpenAI.VERSION ?? null, ok, checks }, null, 1));
process.exit(ok ? 0 : 1);
