// The Memory pane's ordering and wording, and the edits it sends.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { forgetAllQuestion, memoriesInOrder, memoryDate, memoryPatch } from '../../assistant/server/static/memory.js';

test('facts: pinned first, then the newest first', () => {
  const facts = memoriesInOrder([
    { id: 1, created_at: '2026-01-01T10:00:00', pinned: false },
    { id: 2, created_at: '2026-01-01T09:00:00', pinned: true },
    { id: 3, created_at: '2026-01-01T11:00:00+00:00', pinned: false },
    { id: 4, created_at: '2026-01-01T08:00:00Z', pinned: true },
  ]);
  assert.deepEqual(facts.map((m) => m.id), [2, 4, 3, 1]);
});

test('a fact says when it was remembered, and an inferred one says so', () => {
  const now = new Date('2026-01-01T12:00:00Z');
  assert.equal(memoryDate({ created_at: '2026-01-01T11:55:00', inferred: false }, now), 'Remembered 5 minutes ago');
  assert.equal(memoryDate({ created_at: '2026-01-01T10:00:00Z', inferred: true }, now), 'Inferred 2 hours ago');
});

test('an edit sends only what changed, and nothing for a blank or unchanged text', () => {
  const fact = { id: 7, text: 'my sister is called Ana', pinned: false };
  assert.deepEqual(memoryPatch(fact, { text: '  my sister is called Anna ' }), { text: 'my sister is called Anna' });
  assert.deepEqual(memoryPatch(fact, { pinned: true }), { pinned: true });
  assert.equal(memoryPatch(fact, { text: 'my sister is called Ana' }), null);
  assert.equal(memoryPatch(fact, { text: '   ' }), null);
  assert.equal(memoryPatch(fact, { pinned: false }), null);
});

test('forgetting everything asks first, counting what goes', () => {
  assert.equal(forgetAllQuestion(1), "Forget all 1 fact for good? This can't be undone.");
  assert.equal(forgetAllQuestion(3), "Forget all 3 facts for good? This can't be undone.");
});
