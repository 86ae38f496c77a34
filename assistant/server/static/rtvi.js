// A small WebRTC + RTVI client for pipecat's SmallWebRTC transport, using only browser APIs.
//
// Signalling (as pipecat's own small-webrtc client does it): one audio transceiver at index 0,
// a data channel labelled "chat" ({ordered: true}) created before the offer, the offer POSTed
// to /api/offer once ICE gathering is done (late candidates are PATCHed), and a "ping: <ms>"
// keep-alive every second, which the server uses to tell that the browser is still there.
// RTVI messages travel on that channel as JSON objects labelled "rtvi-ai"; transport signalling
// travels on it as {"type": "signalling", "message": {...}}.

export const RTVI_LABEL = 'rtvi-ai';
export const RTVI_PROTOCOL_VERSION = '2.2.0';
export const DATA_CHANNEL_LABEL = 'chat';
export const DATA_CHANNEL_OPTIONS = Object.freeze({ ordered: true });

const AUDIO_RECEIVER_INDEX = 0;
const ICE_GATHERING_TIMEOUT_MS = 2500;
const CONNECT_TIMEOUT_MS = 25000;
const DISCONNECTED_GRACE_MS = 5000;
const KEEP_ALIVE_MS = 1000;

export class VoiceError extends Error {}

function shortId() {
  const bytes = new Uint8Array(6);
  (globalThis.crypto || window.crypto).getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function microphoneMessage(error) {
  switch (error && error.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return 'Microphone access was blocked. Allow the microphone for this page and try again.';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'No microphone was found. Plug one in and try again.';
    case 'NotReadableError':
      return 'The microphone is in use by another application.';
    default:
      return `Could not open the microphone${error && error.message ? `: ${error.message}` : '.'}`;
  }
}

async function responseDetail(response) {
  try {
    const body = await response.json();
    if (typeof body.detail === 'string') return body.detail;
    if (Array.isArray(body.detail)) return body.detail.map((d) => d.msg || String(d)).join('; ');
  } catch {
    /* not JSON */
  }
  return `${response.status} ${response.statusText}`.trim();
}

/** What the page says when the server refuses an offer with `status` and `detail`. */
export function offerRefusal(status, detail) {
  if (status === 401) return `Your session has expired (${detail}). Choose a conversation and try again.`;
  // Full (MAX_VOICE_SESSIONS, or this person's sessions): the server says why, for people.
  if (status === 503) return detail;
  return `The assistant could not start: ${detail}`;
}

/**
 * One voice session with the assistant.
 *
 * Events (all CustomEvent, details in `event.detail`):
 *   "state"   {state: "connecting" | "connected" | "closed" | "error", reason?: string}
 *   "rtvi"    {type, id, data}   every RTVI message from the bot
 *   "ended"   {}                 the bot left the call (signalling "peerLeft")
 */
export class VoiceSession extends EventTarget {
  constructor({ offerUrl = '/api/offer', audioElement = null, clientAbout = {} } = {}) {
    super();
    this.offerUrl = offerUrl;
    this.audioElement = audioElement;
    this.clientAbout = clientAbout;
    this.state = 'idle';
    this.pc = null;
    this.dc = null;
    this.stream = null;
    this.pcId = null;
    this.micEnabled = true;
    this._closing = false;
    this._keepAlive = null;
    this._timers = new Set();
    this._lateCandidates = [];
    this._offerSent = false;
    this._negotiating = false;
  }

  get micTrack() {
    return this.stream ? this.stream.getAudioTracks()[0] || null : null;
  }

  async start() {
    this._setState('connecting');
    try {
      await this._start();
    } catch (error) {
      if (this._closing) return;
      this._fail(error instanceof VoiceError ? error.message : `Could not connect: ${error.message || error}`);
    }
  }

  async _start() {
    if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw new VoiceError(
        'The microphone only works on a secure page: open the assistant over HTTPS, or on localhost.',
      );
    }
    if (typeof RTCPeerConnection === 'undefined') {
      throw new VoiceError('This browser does not support WebRTC.');
    }
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
        video: false,
      });
    } catch (error) {
      throw new VoiceError(microphoneMessage(error));
    }
    if (this._closing) return this._releaseMedia();
    const track = this.micTrack;
    track.enabled = this.micEnabled;

    const pc = new RTCPeerConnection({ iceServers: [] });
    this.pc = pc;
    // Index 0, as pipecat's connection expects: the mic goes up, the bot's voice comes down.
    pc.addTransceiver(track, { direction: 'sendrecv', streams: [this.stream] });
    this.dc = this._createDataChannel(pc);

    pc.addEventListener('track', (event) => {
      if (event.track.kind !== 'audio' || !this.audioElement) return;
      const stream = event.streams[0] || new MediaStream([event.track]);
      this.audioElement.srcObject = stream;
      const played = this.audioElement.play();
      if (played && played.catch) played.catch(() => {});
    });
    pc.addEventListener('icecandidate', (event) => {
      if (event.candidate && this._offerSent) this._queueLateCandidate(event.candidate);
    });
    pc.addEventListener('connectionstatechange', () => this._onConnectionState());

    this._after(CONNECT_TIMEOUT_MS, () => {
      if (this.state === 'connecting') this._fail('The assistant did not answer in time. Is the server running?');
    });

    await this._negotiate(false);
  }

  _createDataChannel(pc) {
    const dc = pc.createDataChannel(DATA_CHANNEL_LABEL, DATA_CHANNEL_OPTIONS);
    dc.addEventListener('open', () => {
      if (this._closing) return;
      this._keepAlive = setInterval(() => {
        if (dc.readyState === 'open') dc.send(`ping: ${Date.now()}`);
      }, KEEP_ALIVE_MS);
      this._sendSignalling({ type: 'trackStatus', receiver_index: AUDIO_RECEIVER_INDEX, enabled: this.micEnabled });
      this.sendRTVI('client-ready', {
        version: RTVI_PROTOCOL_VERSION,
        about: { library: 'assistant-web', library_version: '1', platform: navigator.platform || undefined, ...this.clientAbout },
      });
      this._setState('connected');
    });
    dc.addEventListener('close', () => {
      this._stopKeepAlive();
      if (!this._closing && this.state !== 'error' && this.state !== 'closed') {
        this._fail('The connection to the assistant was closed.');
      }
    });
    dc.addEventListener('message', (event) => this._onDataChannelMessage(event.data));
    return dc;
  }

  async _negotiate(restartPc) {
    const pc = this.pc;
    this._negotiating = true;
    try {
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      await this._waitForIceGathering(pc);
      if (this._closing || pc !== this.pc) return;
      const local = pc.localDescription;
      const body = { sdp: local.sdp, type: local.type };
      if (this.pcId) {
        body.pc_id = this.pcId;
        body.restart_pc = Boolean(restartPc);
      }
      this._offerSent = true;
      let response;
      try {
        response = await fetch(this.offerUrl, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          credentials: 'same-origin',
          body: JSON.stringify(body),
        });
      } catch {
        throw new VoiceError('Could not reach the server.');
      }
      if (!response.ok) throw new VoiceError(offerRefusal(response.status, await responseDetail(response)));
      const answer = await response.json();
      if (this._closing || pc !== this.pc) return;
      this.pcId = answer.pc_id || this.pcId;
      await pc.setRemoteDescription({ type: answer.type || 'answer', sdp: answer.sdp });
      await this._flushLateCandidates();
    } finally {
      this._negotiating = false;
    }
  }

  _waitForIceGathering(pc) {
    if (pc.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        pc.removeEventListener('icegatheringstatechange', check);
        clearTimeout(timer);
        resolve();
      };
      const check = () => {
        if (pc.iceGatheringState === 'complete') done();
      };
      const timer = setTimeout(done, ICE_GATHERING_TIMEOUT_MS);
      pc.addEventListener('icegatheringstatechange', check);
    });
  }

  _queueLateCandidate(candidate) {
    this._lateCandidates.push({
      candidate: candidate.candidate,
      sdp_mid: candidate.sdpMid,
      sdp_mline_index: candidate.sdpMLineIndex,
    });
    if (this.pcId && !this._negotiating) this._flushLateCandidates();
  }

  async _flushLateCandidates() {
    if (!this.pcId || this._lateCandidates.length === 0) return;
    const candidates = this._lateCandidates.splice(0);
    try {
      await fetch(this.offerUrl, {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/json' },
        credentials: 'same-origin',
        body: JSON.stringify({ pc_id: this.pcId, candidates }),
      });
    } catch {
      /* trickle is best effort: the offer already carried the candidates gathered in time */
    }
  }

  _onConnectionState() {
    const pc = this.pc;
    if (!pc || this._closing) return;
    switch (pc.connectionState) {
      case 'failed':
        this._fail('The connection to the assistant failed. Check the network and reconnect.');
        break;
      case 'disconnected':
        this._after(DISCONNECTED_GRACE_MS, () => {
          if (this.pc === pc && pc.connectionState === 'disconnected') {
            this._fail('The connection to the assistant was lost.');
          }
        });
        break;
      case 'closed':
        this._fail('The connection to the assistant was closed.');
        break;
      default:
        break;
    }
  }

  _onDataChannelMessage(raw) {
    if (typeof raw !== 'string') return;
    let message;
    try {
      message = JSON.parse(raw);
    } catch {
      return;
    }
    if (!message || typeof message !== 'object') return;
    if (message.type === 'signalling' && message.message) {
      this._onSignalling(message.message);
      return;
    }
    if (message.label !== RTVI_LABEL) return;
    this._emit('rtvi', { type: message.type, id: message.id, data: message.data });
  }

  _onSignalling(message) {
    switch (message.type) {
      case 'renegotiate':
        if (!this._negotiating && this.pc) {
          this._negotiate(false).catch((error) => {
            if (!this._closing) this._fail(error.message || 'Renegotiation failed.');
          });
        }
        break;
      case 'peerLeft':
        if (!this._closing) {
          this._emit('ended', {});
          this.close();
        }
        break;
      default:
        break;
    }
  }

  sendRTVI(type, data = {}) {
    if (!this.dc || this.dc.readyState !== 'open') return false;
    this.dc.send(JSON.stringify({ label: RTVI_LABEL, type, id: shortId(), data }));
    return true;
  }

  _sendSignalling(message) {
    if (!this.dc || this.dc.readyState !== 'open') return false;
    this.dc.send(JSON.stringify({ type: 'signalling', message }));
    return true;
  }

  setMicEnabled(enabled) {
    this.micEnabled = Boolean(enabled);
    const track = this.micTrack;
    if (track) track.enabled = this.micEnabled;
    this._sendSignalling({ type: 'trackStatus', receiver_index: AUDIO_RECEIVER_INDEX, enabled: this.micEnabled });
  }

  /** Hang up: close the peer connection, release the microphone. Idempotent. */
  close() {
    this._closing = true;
    this._stopKeepAlive();
    for (const timer of this._timers) clearTimeout(timer);
    this._timers.clear();
    const pc = this.pc;
    this.pc = null;
    if (this.dc) {
      try {
        this.dc.close();
      } catch {
        /* already closed */
      }
      this.dc = null;
    }
    if (pc) {
      try {
        pc.getTransceivers().forEach((t) => t.stop && t.stop());
      } catch {
        /* already stopped */
      }
      pc.close();
    }
    this._releaseMedia();
    if (this.state !== 'error') this._setState('closed');
  }

  _releaseMedia() {
    if (this.stream) {
      this.stream.getTracks().forEach((t) => t.stop());
      this.stream = null;
    }
    if (this.audioElement) this.audioElement.srcObject = null;
  }

  _fail(reason) {
    if (this.state === 'error' || this.state === 'closed') return;
    this._setState('error', reason);
    this.close();
  }

  _stopKeepAlive() {
    if (this._keepAlive) clearInterval(this._keepAlive);
    this._keepAlive = null;
  }

  _after(ms, fn) {
    const timer = setTimeout(() => {
      this._timers.delete(timer);
      fn();
    }, ms);
    this._timers.add(timer);
  }

  _setState(state, reason) {
    if (this.state === state) return;
    this.state = state;
    this._emit('state', { state, reason });
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
