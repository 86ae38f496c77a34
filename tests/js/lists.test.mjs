// The lists: overlapping loads keep the newest answer; notes, reminders and headings in order.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  conversationHeading,
  newestOnly,
  notesInOrder,
  remindersInOrder,
} from '../../assistant/server/static/lists.js';
import { deferred } from './helpers.mjs';

test('of overlapping loads only the newest answer is shown, whichever comes back first', async () => {
  const answers = [deferred(), deferred(), deferred()];
  let asked = 0;
  const shown = [];
  const load = newestOnly(() => answers[asked++].promise, (value) => shown.push(value));

  const older = load();
  const newer = load();
  answers[1].resolve('newer');
  answers[0].resolve('older');
  await Promise.all([older, newer]);
  assert.deepEqual(shown, ['newer']);

  const alone = load();
  answers[2].resolve('alone');
  await alone;
  assert.deepEqual(shown, ['newer', 'alone']);
});

test('a failed load throws to its caller and shows nothing', async () => {
  const shown = [];
  const load = newestOnly(async () => {
    throw new Error('Could not reach the server.');
  }, (value) => shown.push(value));
  await assert.rejects(load(), /Could not reach the server/);
  assert.deepEqual(shown, []);
});

test('notes: most recently changed first', () => {
  const notes = notesInOrder([
    { id: 1, created_at: '2026-01-01T10:00:00' },
    { id: 2, created_at: '2026-01-01T09:00:00', updated_at: '2026-01-01T11:00:00' },
    { id: 3, created_at: '2026-01-01T10:30:00+00:00' },
  ]);
  assert.deepEqual(notes.map((n) => n.id), [2, 3, 1]);
});

test('reminders: pending soonest first, then the rest latest first', () => {
  const { pending, other } = remindersInOrder([
    { id: 1, status: 'delivered', due_at: '2026-01-01T08:00:00Z' },
    { id: 2, status: 'pending', due_at: '2026-01-03T08:00:00Z' },
    { id: 3, status: 'cancelled', due_at: '2026-01-02T08:00:00Z' },
    { id: 4, status: 'pending', due_at: '2026-01-02T08:00:00Z' },
  ]);
  assert.deepEqual(pending.map((r) => r.id), [4, 2]);
  assert.deepEqual(other.map((r) => r.id), [3, 1]);
});

test("the heading names the conversation and counts its messages", () => {
  const now = new Date('2026-01-01T12:00:00Z');
  assert.deepEqual(conversationHeading(null, now), { title: 'New conversation', sub: 'Nothing said yet' });
  const at = '2026-01-01T12:00:00Z';
  assert.deepEqual(conversationHeading({ title: 'Oat milk', created_at: at, message_count: 1 }, now), {
    title: 'Oat milk',
    sub: 'Started just now · 1 message',
  });
  assert.deepEqual(conversationHeading({ title: null, created_at: at, message_count: 3 }, now), {
    title: 'Untitled conversation',
    sub: 'Started just now · 3 messages',
  });
  assert.equal(conversationHeading({ title: null, created_at: at, message_count: 0 }, now).title, 'New conversation');
});
