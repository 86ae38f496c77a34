// The call: idle → connecting → connected, or error; a Connect clicked while a conversation is
// being chosen waits for it. The Call holds no DOM: its session, its conversation and what it
// shows are handed in (tested in node with a fake session, tests/js).

import { capitalize } from './format.js';

export const CALL_LABELS = Object.freeze({
  idle: 'Tap to start talking',
  connecting: 'Connecting…',
  waking: 'Getting ready…',
  listening: 'Listening',
  user: 'Hearing you…',
  bot: 'Speaking',
  muted: 'Muted — tap the mic to talk',
  error: 'Tap to reconnect',
});

export class Call {
  /**
   * parts:
   *   openSession()           a new voice session, not started (rtvi.js VoiceSession: events
   *                           "state", "ended", "rtvi"; start(), close(), setMicEnabled())
   *   hasConversation()       whether a conversation is chosen
   *   chooseConversation()    chooses one when none is (async; throws if it cannot)
   *   onChange()              anything shown changed
   *   onChoosing(choosing)    a conversation started or stopped being chosen
   *   onStatus(status)        the status was set
   *   onOver(session)         a call ended (session: the one that ended, or null)
   *   onBotLeft()             the assistant hung up (not because the conversation moved on)
   *   onMessage(message)      an RTVI message of the current session
   */
  constructor(parts) {
    this.parts = parts;
    this.status = 'idle'; // idle | connecting | connected | error
    this.error = null; // why the last call failed, until the next one starts or is hung up
    this.session = null; // the voice session while one exists
    this.movedSession = null; // the session whose conversation went on elsewhere
    this.connectWanted = false; // Connect was clicked; the call starts once a conversation is chosen
    this.choosing = false; // a conversation is being chosen (Resume, New conversation)
    this.botReady = false;
    this.muted = false;
    this.userSpeaking = false;
    this.botSpeaking = false;
    this.toolCalls = new Map(); // tool_call_id (or a placeholder) -> function name or null
    this.activeTool = null; // the name the activity line gives
  }

  /**
   * The Connect button. The click always shows (connecting); while a conversation is being
   * chosen, the call waits for it and then starts in that one. Returns whether it did anything.
   */
  connect() {
    if (this.session || this.connectWanted) return false;
    this.connectWanted = true;
    this.error = null;
    this._setStatus('connecting');
    if (!this.choosing) this._start();
    return true;
  }

  /** Ends the call (if any) and returns to idle. */
  hangUp() {
    const session = this.session;
    this.session = null;
    this.connectWanted = false;
    if (session) session.close();
    this.parts.onOver(session);
    this.error = null;
    if (this.status !== 'idle') this._setStatus('idle');
    else this.parts.onChange();
  }

  /**
   * Runs `choose` (which chooses a conversation and resolves whether it did); meanwhile another
   * choice is refused and a Connect waits. Then a waiting Connect starts the call in the
   * conversation just chosen, or, if choosing failed, goes back to idle.
   */
  async whileChoosing(choose) {
    if (this.choosing) return;
    this.choosing = true;
    this.parts.onChoosing(true);
    let chosen = false;
    try {
      chosen = await choose();
    } finally {
      this.choosing = false;
      this.parts.onChoosing(false);
    }
    if (!this.connectWanted) return;
    if (chosen) this._start();
    else {
      this.connectWanted = false;
      this._setStatus('idle');
    }
  }

  /** The assistant stopped for good (a fatal error): the call ends in error. */
  fail(reason) {
    const session = this.session;
    if (!session) return;
    this.session = null;
    session.close();
    this._setStatus('error', reason);
  }

  /** This call's conversation went on in another tab or device: it ends without a "hung up". */
  moved() {
    this.movedSession = this.session;
  }

  toggleMute() {
    if (!this.session || this.status !== 'connected') return;
    this.muted = !this.muted;
    this.session.setMicEnabled(!this.muted);
    if (this.muted) this.userSpeaking = false;
    this.parts.onChange();
  }

  setBotReady() {
    this.botReady = true;
    this.parts.onChange();
  }

  setUserSpeaking(speaking) {
    this.userSpeaking = speaking;
    this.parts.onChange();
  }

  setBotSpeaking(speaking) {
    this.botSpeaking = speaking;
    this.parts.onChange();
  }

  /** An `llm-function-call-*` message other than stopped: a tool is at work. */
  toolCallStarted(type, data) {
    const key = data.tool_call_id || `pending-${type === 'llm-function-call-started' ? 'start' : this.toolCalls.size}`;
    if (data.tool_call_id) this.toolCalls.delete('pending-start');
    this.toolCalls.set(key, data.function_name || null);
    this.activeTool = data.function_name || [...this.toolCalls.values()].find(Boolean) || null;
    this.parts.onChange();
  }

  /** `llm-function-call-stopped`: returns the name of the tool that stopped (null: unknown). */
  toolCallStopped(data) {
    const name = data.function_name || this.toolCalls.get(data.tool_call_id) || null;
    if (data.tool_call_id) this.toolCalls.delete(data.tool_call_id);
    this.toolCalls.delete('pending-start');
    if (!data.tool_call_id) this.toolCalls.clear();
    this.parts.onChange();
    return name;
  }

  async _start() {
    if (!this.parts.hasConversation()) {
      try {
        await this.parts.chooseConversation();
      } catch (error) {
        if (this.connectWanted) {
          this.connectWanted = false;
          this._setStatus('error', error.message);
        }
        return;
      }
    }
    // Hung up, or another conversation is being chosen (which starts the call when done).
    if (!this.connectWanted || this.choosing) return;
    this.connectWanted = false;
    this.botReady = false;
    this.muted = false;
    const session = this.parts.openSession();
    this.session = session;
    session.addEventListener('state', (event) => {
      if (this.session !== session) return;
      const { state: next, reason } = event.detail;
      if (next === 'connecting' || next === 'connected') this._setStatus(next);
      else if (next === 'error' || next === 'closed') {
        this.session = null;
        this.parts.onOver(session);
        this._setStatus(next === 'error' ? 'error' : 'idle', reason);
      }
    });
    session.addEventListener('ended', () => {
      if (this.session === session && this.movedSession !== session) this.parts.onBotLeft();
    });
    session.addEventListener('rtvi', (event) => {
      if (this.session === session) this.parts.onMessage(event.detail);
    });
    session.start();
  }

  _setStatus(status, reason) {
    this.status = status;
    if (status !== 'connected') {
      this.userSpeaking = false;
      this.botSpeaking = false;
      this.toolCalls.clear();
    }
    if (status === 'error') this.error = reason || 'Something went wrong.';
    else if (status === 'connecting' || status === 'connected') this.error = null;
    this.parts.onStatus(status);
    this.parts.onChange();
  }
}

/**
 * What the call area shows (no DOM): `call` is the stage's look (listening, user, bot, muted…),
 * `label` the line under the button, `activity` the tool line (null: hidden). `labels` are the
 * ToolLabels.
 */
export function callView(call, labels) {
  const { status } = call;
  let look = status;
  if (status === 'connected') {
    if (call.muted) look = 'muted';
    else if (call.userSpeaking) look = 'user';
    else if (call.botSpeaking) look = 'bot';
    else look = 'listening';
  }
  let label = CALL_LABELS[look];
  if (status === 'connected' && !call.botReady && look === 'listening') label = CALL_LABELS.waking;
  const live = status === 'connecting' || status === 'connected';
  const tool = call.activeTool;
  return {
    call: look,
    status,
    label,
    live,
    connectLabel: status === 'error' ? 'Reconnect' : live ? label : 'Start talking',
    connectText: status === 'error' ? 'Reconnect' : 'Start talking',
    canMute: status === 'connected',
    muted: call.muted,
    error: call.error,
    activity:
      status === 'connected' && call.toolCalls.size > 0
        ? tool ? `${capitalize(labels.describe(tool, 'active'))}…` : 'Working on it…'
        : null,
  };
}

/** Shows `view` (from callView) in the call area's elements. */
export function renderCall(el, view) {
  el.stage.dataset.call = view.call;
  el.status.textContent = view.status;
  el.status.dataset.status = view.status;
  el.callLabel.textContent = view.label;
  el.connect.disabled = view.live;
  el.connect.setAttribute('aria-label', view.connectLabel);
  el.connectText.textContent = view.connectText;
  el.disconnect.disabled = !view.live;
  el.mute.disabled = !view.canMute;
  el.mute.setAttribute('aria-pressed', String(view.muted));
  el.mute.setAttribute('aria-label', view.muted ? 'Unmute microphone' : 'Mute microphone');
  el.callError.hidden = !view.error;
  if (view.error) el.callError.textContent = view.error;
  el.toolActivity.hidden = view.activity === null;
  if (view.activity !== null) el.toolActivityText.textContent = view.activity;
}
