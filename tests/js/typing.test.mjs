// The message box: what it sends, how the streamed reply is read, what a failure keeps, and
// each reply's timings in words.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { deferred, settle } from './helpers.mjs';
import {
  MAX_TYPED_CHARS,
  TypingBox,
  sendTyped,
  takeEvents,
  timingsText,
  typedText,
} from '../../assistant/server/static/typing.js';

test('the box sends trimmed text; empty or over-long is refused with a reason', () => {
  assert.deepEqual(typedText('  buy oat milk \n'), { text: 'buy oat milk' });
  assert.match(typedText('   ').error, /Type a message/);
  assert.deepEqual(typedText('x'.repeat(MAX_TYPED_CHARS)), { text: 'x'.repeat(MAX_TYPED_CHARS) });
  assert.match(typedText('x'.repeat(MAX_TYPED_CHARS + 1)).error, /at most 4000/);
});

test("a reply's timings in words: what applies, in order, none made up", () => {
  assert.equal(
    timingsText({ stt_secs: 0.314, llm_secs: 1.4219, tts_secs: 0.0184 }),
    'speech to text 314 ms · first token 1.42 s · first audio 18 ms',
  );
  assert.equal(timingsText({ llm_secs: 0.5 }), 'first token 500 ms'); // typed: no STT, no audio
  assert.equal(timingsText({ llm_secs: 0.0004 }), 'first token 0 ms');
  assert.equal(timingsText({}), '');
  assert.equal(timingsText(null), '');
  assert.equal(timingsText({ llm_secs: 'soon' }), '');
});

test('server-sent events split as they arrive, an unfinished one kept for later', () => {
  const first = takeEvents('event: text\ndata: {"text": "Hel"}\n\nevent: text\r\ndata: {"text": "lo');
  assert.deepEqual(first.events, [{ event: 'text', data: { text: 'Hel' } }]);
  const second = takeEvents(`${first.rest}"}\n\nevent: done\ndata: {"reply": "Hello"}\n\n`);
  assert.deepEqual(second.events, [
    { event: 'text', data: { text: 'lo' } },
    { event: 'done', data: { reply: 'Hello' } },
  ]);
  assert.equal(second.rest, '');
});

/** A fetch answering with `chunks` of a text/event-stream body, recording the request. */
function streamingFetch(chunks, { status = 200, json } = {}) {
  const requests = [];
  const fetchImpl = async (url, options) => {
    requests.push({ url, ...options });
    if (status !== 200) return new Response(JSON.stringify(json), { status, headers: { 'Content-Type': 'application/json' } });
    const encoder = new TextEncoder();
    const body = new ReadableStream({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
        controller.close();
      },
    });
    return new Response(body, { status: 200, headers: { 'Content-Type': 'text/event-stream' } });
  };
  return { fetchImpl, requests };
}

test('a typed turn streams its words and notices, then resolves with what was stored', async () => {
  const done = { reply: 'Noted.', messages: [], timings: { llm_secs: 0.2 }, notices: [], live: false };
  const { fetchImpl, requests } = streamingFetch([
    'event: notice\ndata: {"type": "notes-changed"}\n\nevent: text\ndata: {"text": "Not"}\n',
    '\nevent: text\ndata: {"text": "ed."}\n\n',
    `event: done\ndata: ${JSON.stringify(done)}\n\n`,
  ]);
  const words = [];
  const notices = [];
  const result = await sendTyped('c 1', 'note milk', {
    fetchImpl,
    onText: (w) => words.push(w),
    onNotice: (n) => notices.push(n),
  });
  assert.deepEqual(result, done);
  assert.deepEqual(words, ['Not', 'ed.']);
  assert.deepEqual(notices, [{ type: 'notes-changed' }]);
  assert.equal(requests[0].url, '/api/conversations/c%201/chat');
  assert.equal(requests[0].headers.Accept, 'text/event-stream');
  assert.deepEqual(JSON.parse(requests[0].body), { text: 'note milk' });
});

test('a failed reply says why and counts as stored; a refused request does not', async () => {
  const failed = streamingFetch(['event: error\ndata: {"detail": "The language service failed", "status": 502}\n\n']);
  await assert.rejects(sendTyped('c', 'hi', { fetchImpl: failed.fetchImpl }), (error) => {
    assert.equal(error.status, 502);
    assert.equal(error.stored, true);
    assert.match(error.message, /language service failed/);
    return true;
  });
  const refused = streamingFetch([], { status: 422, json: { detail: [{ msg: 'String should have at least 1 character' }] } });
  await assert.rejects(sendTyped('c', 'hi', { fetchImpl: refused.fetchImpl }), (error) => {
    assert.equal(error.status, 422);
    assert.equal(error.stored, false);
    return true;
  });
  const unreachable = async () => {
    throw new TypeError('network');
  };
  await assert.rejects(sendTyped('c', 'hi', { fetchImpl: unreachable }), (error) => error.stored === false);
});

/** Just enough of the DOM for the box: elements with a value, events, hidden and disabled. */
class FakeElement extends EventTarget {
  constructor() {
    super();
    this.value = '';
    this.hidden = true;
    this.disabled = false;
    this.textContent = '';
  }
}

function boxSetUp({ inCall = false } = {}) {
  const el = { form: new FakeElement(), input: new FakeElement(), send: new FakeElement(), error: new FakeElement() };
  const log = [];
  const transcript = {
    typedUser: (text) => log.push(['typedUser', text]),
    dropTypedUser: () => log.push(['dropTypedUser']),
    typedReply: () => {
      log.push(['typedReply']);
      return {
        add: (words) => log.push(['add', words]),
        finish: (reply, timings) => log.push(['finish', reply, timings]),
        fail: (message) => log.push(['fail', message]),
      };
    },
  };
  const sent = [];
  const answer = deferred();
  const box = new TypingBox(el, {
    conversationId: () => 'conv',
    inCall: () => inCall,
    transcript,
    onNotice: (message) => log.push(['notice', message.type]),
    onTurn: () => log.push(['turn']),
    sendImpl: (id, text, handlers) => {
      sent.push({ id, text });
      return answer.promise.then((step) => step(handlers));
    },
  });
  return { el, log, sent, answer, box };
}

test('without a call the reply streams into its own bubble, with its timings at the end', async () => {
  const { el, log, sent, answer, box } = boxSetUp();
  el.input.value = '  remember the milk ';
  const submitted = box.submit();
  assert.equal(el.input.value, ''); // sent: the box is free for the next message
  assert.equal(el.send.disabled, true);
  assert.deepEqual(sent, [{ id: 'conv', text: 'remember the milk' }]);
  answer.resolve((handlers) => {
    handlers.onNotice({ type: 'notes-changed' });
    handlers.onText('Noted');
    return { reply: 'Noted.', timings: { llm_secs: 0.3 } };
  });
  await submitted;
  assert.deepEqual(log, [
    ['typedUser', 'remember the milk'],
    ['typedReply'],
    ['notice', 'notes-changed'],
    ['add', 'Noted'],
    ['finish', 'Noted.', { llm_secs: 0.3 }],
    ['turn'],
  ]);
  assert.equal(el.send.disabled, false);
  assert.equal(el.error.hidden, true);
});

test('in a call only the typed words are shown here: the reply comes as a spoken one', async () => {
  const { el, log, answer, box } = boxSetUp({ inCall: true });
  el.input.value = 'hello';
  const submitted = box.submit();
  answer.resolve(() => ({ reply: 'Hi!', timings: { llm_secs: 0.2, tts_secs: 0.1 }, live: true }));
  await submitted;
  assert.deepEqual(log, [['typedUser', 'hello'], ['turn']]);
});

test('words that never got in go back in the box; a failed reply keeps them shown', async () => {
  const lost = boxSetUp();
  lost.el.input.value = 'buy bread';
  const first = lost.box.submit();
  lost.answer.resolve(() => {
    throw Object.assign(new Error('Could not reach the server.'), { stored: false });
  });
  await first;
  assert.equal(lost.el.input.value, 'buy bread');
  assert.equal(lost.el.error.textContent, 'Could not reach the server.');
  assert.equal(lost.el.error.hidden, false);
  assert.deepEqual(lost.log.slice(-3), [['fail', null], ['dropTypedUser'], ['turn']]);

  const failed = boxSetUp();
  failed.el.input.value = 'buy bread';
  const second = failed.box.submit();
  failed.answer.resolve(() => {
    throw Object.assign(new Error('The language service failed'), { stored: true });
  });
  await second;
  assert.equal(failed.el.input.value, ''); // stored on the server: sending again would repeat it
  assert.deepEqual(failed.log.slice(-2), [['fail', 'The language service failed'], ['turn']]);
});

test('an empty box sends nothing and says so; Enter sends, Shift+Enter does not', async () => {
  const { el, sent, box } = boxSetUp();
  el.input.value = '   ';
  await box.submit();
  assert.deepEqual(sent, []);
  assert.equal(el.error.hidden, false);

  el.input.value = 'first line';
  const shifted = new Event('keydown');
  Object.assign(shifted, { key: 'Enter', shiftKey: true });
  el.input.dispatchEvent(shifted);
  await settle();
  assert.deepEqual(sent, []);
  const enter = new Event('keydown', { cancelable: true });
  Object.assign(enter, { key: 'Enter', shiftKey: false });
  el.input.dispatchEvent(enter);
  await settle();
  assert.deepEqual(sent, [{ id: 'conv', text: 'first line' }]);
  assert.equal(enter.defaultPrevented, true);
});
