// The voice session's offer, refused by a full server: the page shows the server's words.
// The browser's WebRTC, microphone and fetch are stood in for; only what start() touches.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Call, callView } from '../../assistant/server/static/call.js';
import { VoiceSession, offerRefusal } from '../../assistant/server/static/rtvi.js';
import { ToolLabels } from '../../assistant/server/static/tools.js';

class FakeTrack {
  constructor() {
    this.kind = 'audio';
    this.enabled = true;
    this.stopped = false;
  }

  stop() {
    this.stopped = true;
  }
}

class FakePeerConnection extends EventTarget {
  constructor() {
    super();
    this.iceGatheringState = 'complete';
    this.localDescription = null;
    this.closed = false;
  }

  addTransceiver() {}

  createDataChannel() {
    return Object.assign(new EventTarget(), { readyState: 'connecting', close() {}, send() {} });
  }

  async createOffer() {
    return { type: 'offer', sdp: 'v=0\r\n' };
  }

  async setLocalDescription(description) {
    this.localDescription = description;
  }

  getTransceivers() {
    return [];
  }

  close() {
    this.closed = true;
  }
}

const FULL = 'You already have 2 voice sessions open, the most for one person. End one (in another tab or device) and try again.';

function browserAnswering(status, body) {
  const track = new FakeTrack();
  const offers = [];
  globalThis.window = { isSecureContext: true };
  Object.defineProperty(globalThis, 'navigator', {
    configurable: true,
    value: {
      platform: 'test',
      mediaDevices: {
        getUserMedia: async () => ({ getAudioTracks: () => [track], getTracks: () => [track] }),
      },
    },
  });
  globalThis.RTCPeerConnection = FakePeerConnection;
  globalThis.fetch = async (url, init) => {
    offers.push({ url, body: JSON.parse(init.body) });
    return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
  };
  return { track, offers };
}

test('a full server: the call ends in error with the server message, and the mic is released', async () => {
  const { track, offers } = browserAnswering(503, { detail: FULL });
  const states = [];
  let over = null;
  const call = new Call({
    openSession() {
      const session = new VoiceSession();
      session.addEventListener('state', (event) => states.push(event.detail));
      return session;
    },
    hasConversation: () => true,
    chooseConversation: async () => {},
    onChange() {},
    onStatus() {},
    onChoosing() {},
    onOver: (session) => {
      over = session;
    },
    onBotLeft() {},
    onMessage() {},
  });
  call.connect();
  await new Promise((resolve) => {
    const poll = () => (over ? resolve() : setImmediate(poll));
    poll();
  });

  assert.deepEqual(offers.map((o) => [o.url, o.body.type]), [['/api/offer', 'offer']]);
  assert.deepEqual(states.at(-1), { state: 'error', reason: FULL });
  const view = callView(call, new ToolLabels([]));
  assert.equal(view.status, 'error');
  assert.equal(view.error, FULL);
  assert.equal(view.connectText, 'Reconnect');
  assert.equal(track.stopped, true);
});

test('other refusals keep their own wording', () => {
  assert.equal(offerRefusal(503, FULL), FULL);
  assert.equal(offerRefusal(400, 'Invalid SDP offer: x'), 'The assistant could not start: Invalid SDP offer: x');
  assert.match(offerRefusal(401, 'No session'), /^Your session has expired \(No session\)/);
});
