// What the bot's messages do to the page's parts (recorded by fakes here).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { messageHandler } from '../../assistant/server/static/messages.js';

/** Records every call made on it, as [name, ...args]. */
function recorder(log, name) {
  const record = (method) => (...args) => log.push([`${name}.${String(method)}`, ...args]);
  return new Proxy({}, { get: (target, method) => (method in target ? target[method] : record(method)) });
}

function setUp() {
  const log = [];
  const parts = {
    call: recorder(log, 'call'),
    transcript: recorder(log, 'transcript'),
    lists: recorder(log, 'lists'),
    voiceBadge: recorder(log, 'voiceBadge'),
    voiceStatus: recorder(log, 'voiceStatus'),
    toast: (options) => log.push(['toast', options.title]),
    chime: () => log.push(['chime']),
    onConversation: (id) => log.push(['conversation', id]),
  };
  // The call's tool bookkeeping answers which tool stopped.
  parts.call.toolCallStopped = (data) => (log.push(['call.toolCallStopped']), data.function_name || null);
  return { log, onRTVI: messageHandler(parts) };
}

test('a finished tool call gets a transcript line; a cancelled one does not', () => {
  const { log, onRTVI } = setUp();
  onRTVI({ type: 'llm-function-call-stopped', data: { tool_call_id: 'a', function_name: 'take_note' } });
  onRTVI({ type: 'llm-function-call-stopped', data: { tool_call_id: 'b', cancelled: true } });
  assert.deepEqual(log, [['call.toolCallStopped'], ['transcript.toolCall', 'take_note'], ['call.toolCallStopped']]);
});

test("pipecat's non-fatal errors stay in the console; a fatal one ends the call with a toast", (t) => {
  const { log, onRTVI } = setUp();
  const warned = [];
  t.mock.method(console, 'warn', (...args) => warned.push(args));
  onRTVI({ type: 'error', data: { error: 'server rejected WebSocket connection: HTTP 503', fatal: false } });
  assert.deepEqual(log, []);
  assert.equal(warned.length, 1);
  onRTVI({ type: 'error', data: { error: 'pipeline stopped', fatal: true } });
  assert.deepEqual(log, [['toast', 'The assistant stopped'], ['call.fail', 'pipeline stopped']]);
});

test('voice out: replies shown as text, and said once in the status line', () => {
  const { log, onRTVI } = setUp();
  onRTVI({ type: 'server-message', data: { type: 'voice-available', available: false } });
  onRTVI({ type: 'server-message', data: { type: 'voice-available', available: true } });
  assert.deepEqual(log, [
    ['transcript.setVoiceless', true],
    ['voiceStatus.set', false],
    ['transcript.setVoiceless', false],
    ['voiceStatus.set', true],
  ]);
});

test('the session message says the conversation and voice; a due reminder toasts and chimes', () => {
  const { log, onRTVI } = setUp();
  const voice = { emotion: 'calm', speed: 1, volume: 1 };
  onRTVI({ type: 'server-message', data: { type: 'session', conversation_id: 'c9', voice } });
  assert.deepEqual(log.splice(0), [
    ['voiceBadge.set', voice, false],
    ['conversation', 'c9'],
    ['lists.loadConversations'],
  ]);
  onRTVI({ type: 'server-message', data: null });
  onRTVI({ type: 'server-message', data: { type: 'reminder-due', text: 'call Mum' } });
  assert.deepEqual(log.splice(0), [['toast', 'Reminder: call Mum'], ['chime'], ['lists.loadReminders']]);
});

test("a turn's timings from the server go on the latest reply", () => {
  const { log, onRTVI } = setUp();
  const timings = { type: 'turn-timings', stt_secs: 0.3, llm_secs: 0.4, tts_secs: 0.2 };
  onRTVI({ type: 'server-message', data: timings });
  assert.deepEqual(log, [['transcript.turnTimings', timings]]);
});
