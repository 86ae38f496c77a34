// The call's state machine, with a fake voice session and a conversation choice the test settles.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Call, callView } from '../../assistant/server/static/call.js';
import { ToolLabels } from '../../assistant/server/static/tools.js';
import { deferred, settle } from './helpers.mjs';

/** Stands in for rtvi.js's VoiceSession: the same events, and close() says "closed" at once. */
class FakeSession extends EventTarget {
  constructor(conversationId) {
    super();
    this.conversationId = conversationId;
    this.started = false;
    this.closed = false;
    this.micEnabled = true;
  }

  start() {
    this.started = true;
  }

  close() {
    this.closed = true;
    this.emit('state', { state: 'closed' });
  }

  setMicEnabled(enabled) {
    this.micEnabled = enabled;
  }

  emit(type, detail) {
    this.dispatchEvent(Object.assign(new Event(type), { detail }));
  }
}

const labels = new ToolLabels([{ name: 'take_note', topic: 'notes', done: 'took a note', doing: 'taking a note' }]);

function setUp({ conversationId = 'c1', chooseConversation } = {}) {
  const page = { conversationId, sessions: [], over: [], botLeft: 0, messages: [], choosing: [] };
  const call = new Call({
    openSession() {
      const session = new FakeSession(page.conversationId);
      page.sessions.push(session);
      return session;
    },
    hasConversation: () => Boolean(page.conversationId),
    chooseConversation: chooseConversation || (async () => {
      page.conversationId = 'restored';
    }),
    onChange() {},
    onStatus() {},
    onChoosing: (choosing) => page.choosing.push(choosing),
    onOver: (session) => page.over.push(session),
    onBotLeft: () => {
      page.botLeft += 1;
    },
    onMessage: (message) => page.messages.push(message),
  });
  const view = () => callView(call, labels);
  return { call, page, view };
}

async function connected(setup) {
  setup.call.connect();
  await settle();
  const session = setup.page.sessions.at(-1);
  session.emit('state', { state: 'connected' });
  return session;
}

test('Connect starts a session in the chosen conversation; connected, it gets ready, then listens', async () => {
  const { call, page, view } = setUp();
  assert.equal(call.connect(), true);
  assert.equal(view().status, 'connecting');
  assert.equal(view().live, true);
  await settle();
  assert.equal(page.sessions.length, 1);
  assert.equal(page.sessions[0].started, true);
  assert.equal(page.sessions[0].conversationId, 'c1');
  assert.equal(call.connect(), false, 'a second click while live does nothing');

  page.sessions[0].emit('state', { state: 'connected' });
  assert.equal(view().label, 'Getting ready…');
  call.setBotReady();
  assert.deepEqual([view().call, view().label], ['listening', 'Listening']);
});

test('Connect clicked while a conversation is being chosen shows at once and starts in that one', async () => {
  const { call, page, view } = setUp({ conversationId: 'old' });
  const answer = deferred();
  const choosing = call.whileChoosing(async () => {
    const chosen = await answer.promise;
    page.conversationId = 'resumed';
    return chosen;
  });
  call.whileChoosing(async () => true); // refused: one choice at a time
  assert.equal(call.connect(), true);
  assert.equal(call.connect(), false, 'the waiting click is not queued twice');
  assert.equal(view().status, 'connecting');
  assert.equal(view().live, true, 'the button is disabled while it waits');
  await settle();
  assert.equal(page.sessions.length, 0, 'no call before the conversation is chosen');

  answer.resolve(true);
  await choosing;
  await settle();
  assert.deepEqual(page.choosing, [true, false], 'one choice at a time: the second was refused');
  assert.equal(page.sessions.length, 1);
  assert.equal(page.sessions[0].conversationId, 'resumed');
  assert.equal(page.sessions[0].started, true);
});

test('if choosing fails, the waiting Connect goes back to idle without a call', async () => {
  const { call, page, view } = setUp();
  const answer = deferred();
  const choosing = call.whileChoosing(() => answer.promise);
  call.connect();
  answer.resolve(false);
  await choosing;
  await settle();
  assert.equal(view().status, 'idle');
  assert.equal(page.sessions.length, 0);
  assert.equal(call.connect(), true, 'the next click connects');
});

test('hanging up while the Connect waits cancels it', async () => {
  const { call, page, view } = setUp();
  const answer = deferred();
  const choosing = call.whileChoosing(() => answer.promise);
  call.connect();
  call.hangUp();
  answer.resolve(true);
  await choosing;
  await settle();
  assert.equal(view().status, 'idle');
  assert.equal(page.sessions.length, 0);
});

test('with no conversation, Connect restores one first; if that fails the call shows why', async () => {
  const ok = setUp({ conversationId: null });
  ok.call.connect();
  await settle();
  assert.equal(ok.page.sessions[0].conversationId, 'restored');

  const failing = setUp({
    conversationId: null,
    chooseConversation: async () => {
      throw new Error('Could not reach the server.');
    },
  });
  failing.call.connect();
  await settle();
  const view = failing.view();
  assert.deepEqual([view.status, view.error, view.connectText], ['error', 'Could not reach the server.', 'Reconnect']);
  assert.equal(failing.page.sessions.length, 0);
  failing.call.connect();
  assert.equal(failing.view().error, null, 'a new attempt clears the message');
});

test('a session that fails ends the call in error once; its later events are ignored', async () => {
  const setup = setUp();
  const session = await connected(setup);
  session.emit('state', { state: 'error', reason: 'The connection to the assistant was lost.' });
  assert.deepEqual([setup.view().status, setup.view().error], ['error', 'The connection to the assistant was lost.']);
  assert.deepEqual(setup.page.over, [session]);
  session.emit('state', { state: 'connected' });
  session.emit('rtvi', { type: 'bot-ready' });
  assert.equal(setup.view().status, 'error');
  assert.deepEqual(setup.page.messages, []);
});

test('hanging up closes the session, ends the call once and returns to idle', async () => {
  const setup = setUp();
  const session = await connected(setup);
  session.emit('rtvi', { type: 'bot-ready' });
  assert.deepEqual(setup.page.messages, [{ type: 'bot-ready' }]);
  setup.call.hangUp();
  assert.equal(session.closed, true);
  assert.equal(setup.view().status, 'idle');
  assert.deepEqual(setup.page.over, [session], 'its own "closed" does not end it again');
  assert.equal(setup.call.session, null);
});

test('the assistant leaving says so, unless the conversation moved to another tab', async () => {
  const left = setUp();
  (await connected(left)).emit('ended', {});
  assert.equal(left.page.botLeft, 1);

  const moved = setUp();
  const session = await connected(moved);
  moved.call.moved();
  session.emit('ended', {});
  assert.equal(moved.page.botLeft, 0);
});

test('who is speaking, and mute, show in the call area; ending the call forgets them', async () => {
  const setup = setUp();
  const session = await connected(setup);
  setup.call.setBotReady();
  setup.call.setBotSpeaking(true);
  assert.deepEqual([setup.view().call, setup.view().label], ['bot', 'Speaking']);
  setup.call.setUserSpeaking(true);
  assert.equal(setup.view().call, 'user');
  setup.call.toggleMute();
  assert.equal(session.micEnabled, false);
  assert.deepEqual([setup.view().call, setup.view().muted], ['muted', true]);
  assert.equal(setup.call.userSpeaking, false);
  setup.call.toggleMute();
  assert.equal(session.micEnabled, true);
  assert.equal(setup.view().call, 'bot');

  session.emit('state', { state: 'closed' });
  assert.deepEqual([setup.call.botSpeaking, setup.view().call, setup.view().canMute], [false, 'idle', false]);
  setup.call.toggleMute();
  assert.equal(setup.call.muted, false, 'no mute without a call');
});

test('a tool at work shows its label from the server, or "Working on it" without a name', async () => {
  const setup = setUp();
  await connected(setup);
  assert.equal(setup.view().activity, null);
  setup.call.toolCallStarted('llm-function-call-started', { function_name: 'take_note' });
  setup.call.toolCallStarted('llm-function-call-in-progress', { function_name: 'take_note', tool_call_id: 'a' });
  assert.equal(setup.call.toolCalls.size, 1, 'the started placeholder is the call it names');
  assert.equal(setup.view().activity, 'Taking a note…');
  assert.equal(setup.call.toolCallStopped({ tool_call_id: 'a' }), 'take_note');
  assert.equal(setup.view().activity, null);

  // pipecat's default report level: ids only.
  setup.call.toolCallStarted('llm-function-call-in-progress', { tool_call_id: 'b' });
  assert.equal(setup.view().activity, 'Working on it…');
  assert.equal(setup.call.toolCallStopped({ tool_call_id: 'b' }), null);
  assert.equal(setup.view().activity, null);
});

test('a fatal error ends the call in error with its reason', async () => {
  const setup = setUp();
  const session = await connected(setup);
  setup.call.fail('The assistant stopped.');
  assert.equal(session.closed, true);
  assert.deepEqual([setup.view().status, setup.view().error], ['error', 'The assistant stopped.']);
  setup.call.fail('again');
  assert.equal(setup.view().error, 'The assistant stopped.', 'once: no session is left to fail');
});
