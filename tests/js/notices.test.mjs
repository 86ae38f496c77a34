// The voice status line (out until back; "back" for a while) and the voice badge's words.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { LlmLimit, VOICE_BACK_SHOWN_MS, VoiceStatus, describeVoice, nextVoice } from '../../assistant/server/static/notices.js';
import { FakeClock } from './helpers.mjs';

function statusLine() {
  const parts = { node: { hidden: true, dataset: {} }, title: { textContent: '' }, text: { textContent: '' } };
  const clock = new FakeClock();
  return { parts, clock, status: new VoiceStatus(parts, clock) };
}

test('voice out stays until it is back; back shows for a while, then nothing', () => {
  const { parts, clock, status } = statusLine();
  status.set(false);
  assert.deepEqual([parts.node.hidden, parts.node.dataset.voice, parts.title.textContent], [false, 'out', 'Voice unavailable']);
  assert.match(parts.text.textContent, /shown here as text/);
  clock.advance(60_000);
  assert.equal(parts.node.dataset.voice, 'out');

  status.set(true);
  assert.deepEqual([parts.node.hidden, parts.node.dataset.voice, parts.title.textContent], [false, 'back', 'Voice is back']);
  clock.advance(VOICE_BACK_SHOWN_MS - 1);
  assert.equal(parts.node.hidden, false);
  clock.advance(1);
  assert.equal(parts.node.hidden, true);
  assert.equal('voice' in parts.node.dataset, false);
});

test('out again while "back" is showing stays out', () => {
  const { parts, clock, status } = statusLine();
  status.set(true);
  status.set(false);
  clock.advance(VOICE_BACK_SHOWN_MS);
  assert.deepEqual([parts.node.hidden, parts.node.dataset.voice], [false, 'out']);
  status.set(null);
  assert.equal(parts.node.hidden, true);
});

test('the voice badge says what differs from normal speed and volume', () => {
  assert.deepEqual(describeVoice({ emotion: 'neutral', speed: 1, volume: 1 }), {
    extra: '',
    title: 'Voice: neutral, speed 1×, volume 1×',
  });
  assert.equal(describeVoice({ emotion: 'excited', speed: 1.25, volume: 1.5 }).extra, '· 1.25× · 150% vol');
  assert.equal(describeVoice({ emotion: 'calm', speed: 0.6, volume: 1 }).extra, '· 0.6×');
  // A voice message changes what it names and keeps the rest.
  assert.deepEqual(nextVoice({ emotion: 'calm', speed: 0.8, volume: 1.2 }, { emotion: 'excited' }), {
    emotion: 'excited',
    speed: 0.8,
    volume: 1.2,
  });
});

test('a spent language-service limit is said until it resets, each new message restarting the wait', () => {
  const node = { hidden: true, textContent: '' };
  const clock = new FakeClock();
  const limit = new LlmLimit(node, clock);
  limit.show({ message: 'The daily limit is used up.', resets_in_secs: 10 });
  assert.deepEqual([node.hidden, node.textContent], [false, 'The daily limit is used up.']);
  clock.advance(9_000);
  limit.show({ message: 'Still used up.', resets_in_secs: 10 });
  clock.advance(9_000);
  assert.deepEqual([node.hidden, node.textContent], [false, 'Still used up.']);
  clock.advance(1_000);
  assert.equal(node.hidden, true);
});
