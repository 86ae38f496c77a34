// Times and counts in words. tests/test_js.py runs node in New York, so a time read as local
// instead of UTC shows.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { dueLabel, formatFactor, messageCount, parseTime, relativeTime, usageLine } from '../../assistant/server/static/format.js';

test("the server's times without an offset are UTC; junk is no time", () => {
  assert.equal(parseTime('2026-01-01T10:00:00').toISOString(), '2026-01-01T10:00:00.000Z');
  assert.equal(parseTime('2026-01-01T10:00:00.250').toISOString(), '2026-01-01T10:00:00.250Z');
  assert.equal(parseTime('2026-01-01T10:00:00+02:00').toISOString(), '2026-01-01T08:00:00.000Z');
  assert.equal(parseTime('2026-01-01T10:00:00Z').toISOString(), '2026-01-01T10:00:00.000Z');
  assert.equal(parseTime('soon'), null);
  assert.equal(parseTime(null), null);
});

test('relative times: just now, in a moment, then minutes, hours, days', () => {
  const now = new Date('2026-01-01T12:00:00Z');
  const at = (seconds) => new Date(now.getTime() + seconds * 1000);
  assert.equal(relativeTime(at(-30), now), 'just now');
  assert.equal(relativeTime(at(30), now), 'in a moment');
  assert.equal(relativeTime(null, now), '');
  // Intl words them in the machine's language: compare with what it says for the same unit.
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
  assert.equal(relativeTime(at(-5 * 60), now), rtf.format(-5, 'minute'));
  assert.equal(relativeTime(at(2 * 3600), now), rtf.format(2, 'hour'));
  assert.equal(relativeTime(at(-3 * 86400), now), rtf.format(-3, 'day'));
});

test('due times say today, tomorrow or yesterday', () => {
  const now = new Date(2026, 0, 15, 9, 0);
  const time = (date) => date.toLocaleTimeString(undefined, { hour: 'numeric', minute: '2-digit' });
  const today = new Date(2026, 0, 15, 18, 30);
  const tomorrow = new Date(2026, 0, 16, 8, 0);
  const yesterday = new Date(2026, 0, 14, 8, 0);
  assert.equal(dueLabel(today, now), `Today, ${time(today)}`);
  assert.equal(dueLabel(tomorrow, now), `Tomorrow, ${time(tomorrow)}`);
  assert.equal(dueLabel(yesterday, now), `Yesterday, ${time(yesterday)}`);
});

test('counts and factors', () => {
  assert.equal(messageCount(1), '1 message');
  assert.equal(messageCount(2), '2 messages');
  assert.equal(formatFactor(1), '1');
  assert.equal(formatFactor(1.5), '1.5');
  assert.equal(formatFactor(0.75), '0.75');
});

test("usage: a conversation's tokens and the user's today in one line", () => {
  const conversation = { requests: 1, prompt_tokens: 1200, completion_tokens: 34, total_tokens: 1234 };
  const days = [{ total_tokens: 5000 }, { total_tokens: 678 }];
  assert.equal(usageLine(conversation, days), '1,234 tokens in 1 request (1,200 prompt, 34 reply) · today (UTC) 5,678');
  assert.match(usageLine({ ...conversation, requests: 2 }, []), /in 2 requests .* today \(UTC\) 0$/);
});
