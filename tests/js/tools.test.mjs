// Tool calls are named with the server's labels (GET /api/tools), not guessed from their names.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { ToolLabels } from '../../assistant/server/static/tools.js';

const TAKE_NOTE = { name: 'take_note', topic: 'notes', done: 'took a note', doing: 'taking a note' };

test("a tool the server labelled is called by its label, with its topic's icon", () => {
  const labels = new ToolLabels([
    TAKE_NOTE,
    { name: 'remember_birthday', topic: 'reminders', done: 'noted a birthday', doing: 'noting a birthday' },
  ]);
  assert.equal(labels.describe('take_note', 'done'), 'took a note');
  assert.equal(labels.describe('take_note', 'active'), 'taking a note');
  assert.equal(labels.icon('take_note'), 'i-note');
  // The name says "remember" and "birthday"; the label, not a guess from the name, decides.
  assert.equal(labels.describe('remember_birthday'), 'noted a birthday');
  assert.equal(labels.icon('remember_birthday'), 'i-bell');
});

test('a tool the server does not label is named after itself; a call without a name generically', () => {
  const labels = new ToolLabels([TAKE_NOTE]);
  assert.equal(labels.describe('delete_note'), 'used delete note');
  assert.equal(labels.describe('delete_note', 'active'), 'using delete note');
  assert.equal(labels.icon('delete_note'), 'i-tool');
  assert.equal(labels.describe(null), 'used a tool');
  assert.equal(labels.describe(undefined, 'active'), 'working on it');
  assert.equal(labels.icon(null), 'i-tool');
});

test('labels are learned when they come; malformed ones and unknown topics are ignored', () => {
  const labels = new ToolLabels();
  assert.equal(labels.describe('take_note'), 'used take note');
  labels.learn([TAKE_NOTE, null, { name: 'x' }, { name: 'y', done: 1, doing: 'b' }]);
  labels.learn({ not: 'a list' });
  assert.equal(labels.describe('take_note'), 'took a note');
  assert.equal(labels.describe('x'), 'used x');
  labels.learn([{ name: 'odd', topic: 'constructor', done: 'did', doing: 'doing' }]);
  assert.equal(labels.icon('odd'), 'i-tool');
});

// The server's own list (tests/test_js.py writes it): every tool is labelled and every topic
// has an icon, so a new tool or topic without one fails here.
const serverLabels = process.env.ASSISTANT_TOOL_LABELS;

test("every tool the server has gets its label and an icon of its topic's", { skip: !serverLabels && 'run from tests/test_js.py' }, () => {
  const list = JSON.parse(readFileSync(serverLabels, 'utf8'));
  assert.ok(list.length > 0);
  const labels = new ToolLabels(list);
  for (const { name, done, doing } of list) {
    assert.equal(labels.describe(name, 'done'), done);
    assert.equal(labels.describe(name, 'active'), doing);
    assert.notEqual(labels.icon(name), 'i-tool', name);
  }
});
