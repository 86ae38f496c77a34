// The page's entry: finds the elements and wires the modules together. The browser loads each
// as an ES module, with no build step. No pipecat JS client: it needs a bundler and pulls in
// Daily code; SDP over HTTP + RTVI JSON on a data channel is small enough to speak directly.
//
// The modules, one concern each:
//   rtvi.js        the WebRTC + RTVI client (one voice session)
//   call.js        the call's states (idle, connecting, connected, error) and its area
//   messages.js    what each message from the bot does
//   transcript.js  what was said
//   lists.js       conversations, notes, reminders
//   notices.js     toasts, the voice status line, the voice badge
//   tools.js       what tool calls are called (the server's labels)
//   api.js         the JSON API
//   signin.js      the first screen: a name, and a password when the server has accounts
//   format.js      times, counts and factors in words
//   layout.js      the narrow layout's drawer and tabs
//   icon.js        the page's icons

import { getAuth, getConversationUsage, getConversations, getMessages, getNotes, getReminders, getToolLabels, getUsage, login, logout, selectSession } from './api.js';
import { Call, callView, renderCall } from './call.js';
import { Layout } from './layout.js';
import { Lists } from './lists.js';
import { messageHandler } from './messages.js';
import { usageLine } from './format.js';
import { DEFAULT_VOICE, LlmLimit, VoiceBadge, VoiceStatus, chime, toast as showToast } from './notices.js';
import { VoiceSession } from './rtvi.js';
import { missingField, signInError, welcomeText } from './signin.js';
import { ToolLabels } from './tools.js';
import { Transcript } from './transcript.js';

const USER_KEY = 'assistant.user';

const $ = (id) => document.getElementById(id);

const el = {
  welcome: $('welcome'),
  welcomeForm: $('welcome-form'),
  welcomeTitle: $('welcome-title'),
  welcomeLead: $('welcome-lead'),
  userName: $('user-name'),
  passwordLabel: $('password-label'),
  userPassword: $('user-password'),
  userContinue: $('user-continue'),
  welcomeError: $('welcome-error'),
  main: $('main'),
  userLabel: $('user-label'),
  switchUser: $('switch-user'),
  newConversation: $('new-conversation'),
  conversations: $('conversations'),
  conversationsEmpty: $('conversations-empty'),
  conversationCount: $('conversation-count'),
  conversationTitle: $('conversation-title'),
  conversationSub: $('conversation-sub'),
  usageToggle: $('usage-toggle'),
  usageLine: $('usage-line'),
  stage: $('stage'),
  status: $('status'),
  connect: $('connect'),
  connectText: $('connect-text'),
  disconnect: $('disconnect'),
  mute: $('mute'),
  callLabel: $('call-label'),
  callError: $('call-error'),
  toolActivity: $('tool-activity'),
  toolActivityText: $('tool-activity-text'),
  notes: $('notes'),
  notesEmpty: $('notes-empty'),
  reminders: $('reminders'),
  remindersEmpty: $('reminders-empty'),
  toasts: $('toasts'),
  audio: $('bot-audio'),
};

const state = {
  auth: 'none', // the server's AUTH: 'password' signs in, 'none' takes a name
  user: null,
  conversationId: null,
  get session() {
    return call.session; // the VoiceSession while one exists
  },
};

const toast = (options) => showToast(el.toasts, options);
const labels = new ToolLabels();
const transcript = new Transcript($('transcript'), $('transcript-scroll'), $('transcript-empty'), labels);
const voiceStatus = new VoiceStatus({ node: $('voice-status'), title: $('voice-status-title'), text: $('voice-status-text') });
const voiceBadge = new VoiceBadge({ badge: $('voice-badge'), emotion: $('voice-emotion'), extra: $('voice-extra') });
const llmLimit = new LlmLimit($('llm-limit'));
const layout = new Layout({ main: el.main, drawerToggle: $('drawer-toggle'), drawerBackdrop: $('drawer-backdrop'), sidebar: $('sidebar') });

const lists = new Lists(el, {
  fetch: {
    conversations: () => signedIn(getConversations),
    notes: () => signedIn(getNotes),
    reminders: () => signedIn(getReminders),
  },
  currentId: () => state.conversationId,
  onResume: (id) => resumeConversation(id),
  onError: (title, error) => toast({ title, body: error.message, kind: 'error' }),
});

const call = new Call({
  openSession() {
    transcript.setVoiceless(false);
    return new VoiceSession({
      audioElement: el.audio,
      clientAbout: { platform_details: { conversation_id: state.conversationId } },
    });
  },
  hasConversation: () => Boolean(state.conversationId),
  chooseConversation: () => restoreSession(),
  onChange: () => renderCall(el, callView(call, labels)),
  onStatus(status) {
    if (status !== 'connected') voiceStatus.set(null);
  },
  onChoosing(choosing) {
    el.newConversation.disabled = choosing;
    lists.setEnabled(!choosing);
  },
  onOver(session) {
    transcript.endTurns();
    if (session) lists.refreshConversationsSoon(300);
  },
  onBotLeft: () => toast({ title: 'Call ended', body: 'The assistant hung up.', kind: 'info', timeout: 4000 }),
  onMessage: (message) => onRTVI(message),
});

const onRTVI = messageHandler({
  call,
  transcript,
  lists,
  voiceBadge,
  voiceStatus,
  llmLimit,
  toast,
  chime,
  onConversation(id) {
    if (id === state.conversationId) return;
    state.conversationId = id;
    lists.renderConversations();
  },
});

// ---------------------------------------------------------------------------------------------
// The session cookie, and the server's names for tool calls

/** Who the server is told is talking: the name (AUTH=none), or nobody when signed in. */
const speaker = () => (state.auth === 'password' ? null : state.user);

/** A GET of the user's data; if the session cookie is gone (401), re-selects the same user and
 * conversation once, or, signed in, asks to sign in again. */
async function signedIn(get) {
  try {
    return await get();
  } catch (error) {
    if (error.status !== 401 || !state.user) throw error;
    if (state.auth === 'password') {
      signedOut('Your session has ended. Please sign in again.');
      throw error;
    }
    await restoreSession();
    return get();
  }
}

async function restoreSession() {
  let selected;
  try {
    selected = await selectSession(speaker(), state.conversationId);
  } catch (error) {
    if (error.status === 401 && state.auth === 'password') signedOut('Your session has ended. Please sign in again.');
    if (error.status !== 404) throw error;
    selected = await selectSession(speaker(), null);
  }
  state.conversationId = selected.conversation_id;
}

let toolLabelsLoad = null;

/** Asks the server once what tool calls are called (again after a failure); never rejects. */
function learnToolLabels() {
  if (!toolLabelsLoad) {
    toolLabelsLoad = getToolLabels().then(
      (list) => labels.learn(list),
      (error) => {
        toolLabelsLoad = null;
        console.warn('could not load tool labels', error.message);
      },
    );
  }
  return toolLabelsLoad;
}

// ---------------------------------------------------------------------------------------------
// Who's talking, and which conversation

/** The first screen in the server's mode: a name, and a password when it has accounts. */
function applyAuthMode() {
  const text = welcomeText(state.auth);
  el.welcomeTitle.textContent = text.title;
  el.welcomeLead.textContent = text.lead;
  el.userContinue.textContent = text.button;
  el.userName.autocomplete = text.nameAutocomplete;
  el.passwordLabel.hidden = state.auth !== 'password';
  el.userPassword.hidden = state.auth !== 'password';
  el.userPassword.required = state.auth === 'password';
  el.switchUser.textContent = text.switchLabel;
}

function showWelcome(message = '') {
  el.main.hidden = true;
  el.welcome.hidden = false;
  let remembered = '';
  try {
    remembered = localStorage.getItem(USER_KEY) || '';
  } catch {
    /* storage disabled */
  }
  el.userName.value = state.user || remembered;
  el.userPassword.value = '';
  el.welcomeError.textContent = message;
  el.welcomeError.hidden = !message;
  if (state.auth === 'password' && el.userName.value) {
    el.userPassword.focus();
  } else {
    el.userName.focus();
    el.userName.select();
  }
}

/** The session ended on the server (signed out elsewhere, expired): back to the sign-in. */
function signedOut(message) {
  if (el.main.hidden) return;
  call.hangUp();
  el.toasts.replaceChildren();
  showWelcome(message);
}

async function onContinue(event) {
  event.preventDefault();
  const name = el.userName.value.trim();
  el.welcomeError.hidden = true;
  const missing = missingField(state.auth, name, el.userPassword.value);
  if (missing) {
    el.welcomeError.textContent = missing.message;
    el.welcomeError.hidden = false;
    (missing.field === 'password' ? el.userPassword : el.userName).focus();
    return;
  }
  el.userContinue.disabled = true;
  try {
    let user = name;
    if (state.auth === 'password') {
      try {
        user = (await login(name, el.userPassword.value)).user;
      } catch (error) {
        throw new Error(signInError(error));
      } finally {
        el.userPassword.value = '';
      }
    }
    await enter(user);
  } catch (error) {
    el.welcomeError.textContent = error.message;
    el.welcomeError.hidden = false;
  } finally {
    el.userContinue.disabled = false;
  }
}

/** Into the main view as `name`, in a new conversation. */
async function enter(name) {
  state.user = name;
  const selected = await selectSession(speaker(), null);
  try {
    localStorage.setItem(USER_KEY, selected.user || name);
  } catch {
    /* private mode */
  }
  state.user = selected.user || name;
  state.conversationId = selected.conversation_id;
  lists.reset();
  transcript.clear();
  voiceBadge.set(DEFAULT_VOICE, false);
  el.userLabel.textContent = state.user;
  el.welcome.hidden = true;
  el.main.hidden = false;
  lists.renderConversations();
  learnToolLabels();
  await lists.loadAll();
  el.connect.focus();
}

async function switchUser() {
  call.hangUp();
  el.toasts.replaceChildren();
  if (state.auth === 'password') {
    try {
      await logout();
    } catch (error) {
      if (error.status !== 401) {
        toast({ title: 'Could not sign out', body: error.message, kind: 'error' });
        return;
      }
    }
  }
  showWelcome();
}

function newConversation() {
  return call.whileChoosing(async () => {
    call.hangUp();
    try {
      const selected = await selectSession(speaker(), null);
      state.conversationId = selected.conversation_id;
      transcript.clear();
      voiceBadge.set(DEFAULT_VOICE, false);
      layout.closeDrawer();
      lists.renderConversations();
      await lists.loadConversations();
      return true;
    } catch (error) {
      toast({ title: 'Could not start a new conversation', body: error.message, kind: 'error' });
      return false;
    }
  });
}

function resumeConversation(id) {
  return call.whileChoosing(async () => {
    call.hangUp();
    try {
      const selected = await selectSession(speaker(), id);
      state.conversationId = selected.conversation_id;
      lists.renderConversations();
      layout.closeDrawer();
      layout.setView('talk');
      await loadHistory(state.conversationId);
      return true;
    } catch (error) {
      toast({ title: 'Could not resume that conversation', body: error.message, kind: 'error' });
      lists.loadConversations();
      return false;
    }
  });
}

/** Shows the current conversation's tokens, and the user's today (UTC), next to its title. */
async function showUsage() {
  const id = state.conversationId;
  if (!id) return;
  try {
    const [conversation, days] = await Promise.all([getConversationUsage(id), getUsage(1)]);
    if (id !== state.conversationId) return;
    el.usageLine.textContent = usageLine(conversation, days);
    el.usageLine.dataset.conversationId = id;
    el.usageLine.hidden = false;
  } catch (error) {
    toast({ title: 'Could not load token usage', body: error.message, kind: 'error' });
  }
}

async function loadHistory(conversationId) {
  const [messages] = await Promise.all([signedIn(() => getMessages(conversationId)), learnToolLabels()]);
  transcript.clear();
  const shown = transcript.history(messages);
  if (shown) transcript.divider('Resumed', 'i-history');
}

// ---------------------------------------------------------------------------------------------
// Wiring

el.welcomeForm.addEventListener('submit', onContinue);
el.switchUser.addEventListener('click', switchUser);
el.newConversation.addEventListener('click', newConversation);
el.connect.addEventListener('click', () => {
  // Play the bot's audio: the click on connect is the user gesture that allows it.
  if (call.connect()) el.audio.muted = false;
});
el.disconnect.addEventListener('click', () => call.hangUp());
el.mute.addEventListener('click', () => call.toggleMute());
el.usageToggle.addEventListener('click', showUsage);
window.addEventListener('pagehide', () => {
  if (call.session) call.session.close();
});
// Keep relative times fresh.
setInterval(() => {
  if (!el.main.hidden) lists.renderAll();
}, 60000);

renderCall(el, callView(call, labels));

/** Asks the server whether it signs people in, and whether this browser is signed in already
 * (its cookie outlives a reload and a restart). */
async function start() {
  let signedInAs = null;
  try {
    const auth = await getAuth();
    state.auth = auth.auth;
    signedInAs = auth.user;
  } catch (error) {
    console.warn('could not ask the server how to sign in', error.message);
  }
  applyAuthMode();
  if (state.auth === 'password' && signedInAs) {
    try {
      await enter(signedInAs);
      return;
    } catch (error) {
      showWelcome(error.message);
      return;
    }
  }
  showWelcome();
}

start();

// For debugging from the console (and the browser tests).
window.assistantUI = { state, call, transcript, lists, onRTVI };
