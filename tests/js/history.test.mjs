// Paging through the history: the conversation list's pages and refreshes, a conversation's
// messages opened at its end and loaded backwards, and the scroll position kept.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  ConversationPager,
  MessagePager,
  appendPage,
  keepPosition,
  nearBottom,
  nearTop,
  refreshFirstPage,
} from '../../assistant/server/static/history.js';
import { deferred } from './helpers.mjs';

// A server's conversations, most recent first; equal times are ordered by id, as the server does.
function conversations(count) {
  const all = [];
  for (let n = 0; n < count; n++) {
    all.push({ id: `c${String(n).padStart(4, '0')}`, updated_at: `2026-03-01T12:${String(Math.floor(n / 3) % 60).padStart(2, '0')}:00` });
  }
  return all.sort((a, b) => (a.updated_at === b.updated_at ? (a.id < b.id ? 1 : -1) : a.updated_at < b.updated_at ? 1 : -1));
}

function conversationServer(all) {
  const asked = [];
  const fetchPage = async (before, size) => {
    asked.push(before);
    const start = before === null ? 0 : all.findIndex((c) => c.id === before) + 1;
    return all.slice(start, start + size);
  };
  return { fetchPage, asked };
}

test('the conversation list pages through everything, none twice, none missed', async () => {
  const all = conversations(130);
  const server = conversationServer(all);
  const pager = new ConversationPager(server.fetchPage, 50);
  assert.equal(await pager.loadMore(), true);
  assert.deepEqual(pager.items.map((c) => c.id), all.slice(0, 50).map((c) => c.id));
  await pager.loadMore();
  await pager.loadMore();
  assert.equal(pager.done, true);
  assert.equal(await pager.loadMore(), false); // nothing more asked once done
  assert.deepEqual(pager.items.map((c) => c.id), all.map((c) => c.id));
  assert.deepEqual(server.asked, [null, all[49].id, all[99].id]);
});

test('a scroll that asks again while a page is loading does not load it twice', async () => {
  const answer = deferred();
  let calls = 0;
  const pager = new ConversationPager(() => {
    calls += 1;
    return answer.promise;
  }, 2);
  const first = pager.loadMore();
  const second = pager.loadMore();
  answer.resolve([{ id: 'b', updated_at: '2' }, { id: 'a', updated_at: '1' }]);
  await Promise.all([first, second]);
  assert.equal(calls, 1);
  assert.deepEqual(pager.items.map((c) => c.id), ['b', 'a']);
});

test('refreshing the first page keeps the older pages loaded and moves an active one up', () => {
  const list = [
    { id: 'e', updated_at: '5' },
    { id: 'd', updated_at: '4' },
    { id: 'c', updated_at: '3' },
    { id: 'b', updated_at: '2' },
    { id: 'a', updated_at: '1' },
  ];
  // 'b' was talked in: now first. 'd' was deleted elsewhere.
  const page = [
    { id: 'b', updated_at: '9' },
    { id: 'e', updated_at: '5' },
    { id: 'c', updated_at: '3' },
  ];
  assert.deepEqual(refreshFirstPage(list, page, 3).map((c) => c.id), ['b', 'e', 'c', 'a']);
  // A short first page is the whole list.
  assert.deepEqual(refreshFirstPage(list, page.slice(0, 2), 3).map((c) => c.id), ['b', 'e']);
  assert.deepEqual(appendPage(list.slice(0, 2), list.slice(1)).map((c) => c.id), ['e', 'd', 'c', 'b', 'a']);
});

function messageServer(count, { gaps = [] } = {}) {
  const all = [];
  for (let seq = 1; seq <= count + gaps.length; seq++) if (!gaps.includes(seq)) all.push({ seq });
  const asked = [];
  const fetchPage = async (query, size) => {
    asked.push(query);
    if (query.after !== undefined) return all.filter((m) => m.seq > query.after).slice(0, size);
    const before = query.before ?? Infinity;
    const earlier = all.filter((m) => m.seq < before);
    return earlier.slice(Math.max(0, earlier.length - size));
  };
  return { all, fetchPage, asked };
}

test('a conversation opens at its end and loads earlier pages back to its start', async () => {
  const server = messageServer(250, { gaps: [7, 120] }); // summaries take seqs too
  const pager = new MessagePager(server.fetchPage, 100);
  const shown = await pager.openAtEnd();
  assert.deepEqual(shown.map((m) => m.seq), server.all.slice(-100).map((m) => m.seq));
  assert.equal(pager.atEnd, true);
  assert.equal(pager.atStart, false);
  let earlier;
  while ((earlier = await pager.loadEarlier()).length) shown.unshift(...earlier);
  assert.deepEqual(shown, server.all);
  assert.equal(pager.atStart, true);
  assert.deepEqual(await pager.loadEarlier(), []);
  assert.deepEqual(server.asked, [{}, { before: server.all[150].seq }, { before: server.all[50].seq }]);
});

test('a short conversation is whole at once; a search hit opens in the middle', async () => {
  const short = new MessagePager(messageServer(30).fetchPage, 100);
  assert.equal((await short.openAtEnd()).length, 30);
  assert.equal(short.atStart, true);

  const server = messageServer(1000);
  const pager = new MessagePager(server.fetchPage, 100);
  const shown = await pager.openAt(500);
  assert.deepEqual([shown[0].seq, shown[99].seq, shown[shown.length - 1].seq], [401, 500, 600]);
  assert.equal(pager.atEnd, false);
  const later = await pager.loadLater();
  assert.deepEqual([later[0].seq, later[later.length - 1].seq], [601, 700]);
  const earlier = await pager.loadEarlier();
  assert.deepEqual([earlier[0].seq, earlier[earlier.length - 1].seq], [301, 400]);
});

test('what was on screen stays put when earlier messages go above it', () => {
  const scroller = { scrollTop: 40, scrollHeight: 2000, clientHeight: 500 };
  assert.equal(nearTop(scroller), true);
  assert.equal(nearBottom(scroller), false);
  keepPosition(scroller, () => {
    scroller.scrollHeight += 3000; // a page of earlier messages
  });
  assert.equal(scroller.scrollTop, 3040);
  assert.equal(nearTop(scroller), false);
  const positions = [];
  keepPosition(scroller, () => (scroller.scrollHeight += 100), (top) => positions.push(top));
  assert.deepEqual(positions, [3140]);
  assert.equal(nearBottom({ scrollTop: 4600, scrollHeight: 5100, clientHeight: 500 }), true);
});
