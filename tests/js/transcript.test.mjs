// How heard and spoken text add up in the transcript, and what a resumed conversation shows.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  addUserText,
  applyBotOutput,
  botPieces,
  historyItems,
  joinWords,
} from '../../assistant/server/static/transcript.js';

test('words join with one space, none before punctuation or after a space', () => {
  assert.equal(joinWords('buy', 'oat milk'), 'buy oat milk');
  assert.equal(joinWords('buy oat milk', ', please'), 'buy oat milk, please');
  assert.equal(joinWords('Done', '.'), 'Done.');
  assert.equal(joinWords('take ', 'a note'), 'take a note');
  assert.equal(joinWords('', 'hello'), 'hello');
  assert.equal(joinWords('hello', ''), 'hello');
});

test("the user's turn: interims replace each other, finals add up and drop the interim", () => {
  const turn = { final: '', interim: '' };
  addUserText(turn, 'please', false);
  addUserText(turn, ' please take ', false);
  assert.deepEqual(turn, { final: '', interim: 'please take' });
  addUserText(turn, 'please take a note:', true);
  assert.deepEqual(turn, { final: 'please take a note:', interim: '' });
  addUserText(turn, 'buy', false);
  addUserText(turn, 'buy oat milk', true);
  assert.deepEqual(turn, { final: 'please take a note: buy oat milk', interim: '' });
});

test('bot-output: what was said so far and what is still to come; voiceless, all of it is said', () => {
  const progress = (accumulated, remaining, status = 'speaking') => ({
    text: 'Done. I noted: buy oat milk.',
    will_be_spoken: true,
    spoken_status: status,
    spoken_progress: { accumulated_text: accumulated, remaining_text: remaining },
  });
  const segment = { spoken: '', pending: '' };
  applyBotOutput(segment, progress('', 'Done. I noted: buy oat milk.'), false);
  assert.deepEqual(segment, { spoken: '', pending: 'Done. I noted: buy oat milk.' });
  applyBotOutput(segment, progress('Done.', ' I noted: buy oat milk.'), false);
  assert.deepEqual(segment, { spoken: 'Done.', pending: ' I noted: buy oat milk.' });
  applyBotOutput(segment, progress('Done. I noted:', ' buy oat milk.', 'completed'), false);
  assert.deepEqual(segment, { spoken: 'Done. I noted: buy oat milk.', pending: '' });

  const shown = applyBotOutput({ spoken: '', pending: '' }, progress('', 'Done. I noted: buy oat milk.'), true);
  assert.deepEqual(shown, { spoken: 'Done. I noted: buy oat milk.', pending: '' });
  const unspoken = applyBotOutput({ spoken: 'x', pending: 'y' }, { text: 'Hi.', will_be_spoken: false }, false);
  assert.deepEqual(unspoken, { spoken: 'Hi.', pending: '' });
});

test("a bot turn's pieces: trimmed at both ends, one space between segments, pending marked", () => {
  assert.deepEqual(
    botPieces([
      { spoken: ' Hi alice! ', pending: '' },
      { spoken: '', pending: '' },
      { spoken: 'What can', pending: ' I do for you? ' },
    ]),
    [
      ['Hi alice!', false],
      [' ', false],
      ['What can', false],
      [' I do for you?', true],
    ],
  );
  // Between two stretches still to be said, the space is still to be said too.
  assert.deepEqual(
    botPieces([
      { spoken: '', pending: 'One.' },
      { spoken: '', pending: 'Two.' },
    ]),
    [
      ['One.', true],
      [' ', true],
      ['Two.', true],
    ],
  );
  assert.deepEqual(botPieces([{ spoken: '  ', pending: ' ' }]), []);
});

test('a resumed conversation shows what was said and a line per tool call, not tool results', () => {
  const items = historyItems([
    { role: 'user', content: ' please take a note: buy oat milk ' },
    {
      role: 'assistant',
      content: null,
      tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'take_note', arguments: '{}' } }],
    },
    { role: 'tool', content: '{"ok": true}' },
    { role: 'assistant', content: 'Done. I noted: buy oat milk.', interrupted: true },
    { role: 'user', content: '   ' },
    { role: 'assistant', content: '', tool_calls: [{ name: 'set_voice' }, null] },
  ]);
  assert.deepEqual(items, [
    { role: 'user', text: 'please take a note: buy oat milk' },
    { role: 'tool', name: 'take_note' },
    { role: 'assistant', text: 'Done. I noted: buy oat milk.', interrupted: true },
    { role: 'tool', name: 'set_voice' },
    { role: 'tool', name: null },
  ]);
  assert.deepEqual(historyItems(null), []);
  // A page from the server carries each message's seq: its items keep it (a search opens there).
  assert.deepEqual(
    historyItems([
      { seq: 7, role: 'user', content: 'hi' },
      { seq: 8, role: 'assistant', content: 'Hello.', tool_calls: [{ name: 'take_note' }] },
    ]),
    [
      { role: 'user', text: 'hi', seq: 7 },
      { role: 'assistant', text: 'Hello.', interrupted: false, seq: 8 },
      { role: 'tool', name: 'take_note', seq: 8 },
    ],
  );
});
