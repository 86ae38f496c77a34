// What each message from the assistant does: pipecat's RTVI messages (speaking, transcripts,
// tool calls, errors) and our own server-messages (README "API").

import { dueLabel, parseTime } from './format.js';

/**
 * The handler of one session's messages (`{type, data}`), over the page's parts: the call,
 * transcript, lists, voice badge and status, `toast` and `chime`; `onConversation(id)` is told
 * which conversation the session is in.
 */
export function messageHandler({ call, transcript, lists, voiceBadge, voiceStatus, llmLimit, toast, chime, onConversation }) {
  function onRTVI({ type, data }) {
    const d = data || {};
    switch (type) {
      case 'bot-ready':
        call.setBotReady();
        break;
      case 'user-started-speaking':
        call.setUserSpeaking(true);
        break;
      case 'user-stopped-speaking':
        call.setUserSpeaking(false);
        break;
      case 'bot-started-speaking':
        call.setBotSpeaking(true);
        transcript.botStartedSpeaking();
        break;
      case 'bot-stopped-speaking':
        call.setBotSpeaking(false);
        transcript.botStoppedSpeaking();
        lists.refreshConversationsSoon();
        break;
      case 'bot-tts-stopped':
      case 'bot-llm-stopped':
        // The reply is stored about now; without a voice no bot-stopped-speaking follows.
        lists.refreshConversationsSoon();
        break;
      case 'bot-interrupted':
        call.setBotSpeaking(false);
        transcript.botInterrupted();
        break;
      case 'user-input':
        transcript.sawUserInput = true;
        if (d.input_type === 'backchannel') break;
        transcript.userText(d.text, Boolean(d.final));
        break;
      case 'user-transcription':
        if (!transcript.sawUserInput) transcript.userText(d.text, Boolean(d.final));
        break;
      case 'bot-output':
        transcript.botOutput(d);
        break;
      case 'bot-tts-text':
        transcript.botTTSText(d.text);
        break;
      case 'llm-function-call-started':
      case 'llm-function-call-in-progress':
      case 'llm-function-call':
        call.toolCallStarted(type, d);
        break;
      case 'llm-function-call-stopped': {
        const name = call.toolCallStopped(d);
        if (!d.cancelled) transcript.toolCall(name);
        break;
      }
      case 'server-message':
        onAppMessage(d);
        break;
      case 'error':
        // pipecat's non-fatal errors are for developers ("server rejected WebSocket connection:
        // HTTP 503"); the user hears an apology or gets one of our own messages (voice-available).
        if (!d.fatal) {
          console.warn('assistant error', d.error || d.message);
          break;
        }
        toast({ title: 'The assistant stopped', body: d.error || d.message || '', kind: 'error' });
        call.fail(d.error || 'The assistant stopped.');
        break;
      case 'error-response':
        console.warn('RTVI error-response', d.error);
        break;
      default:
        break;
    }
  }

  function onAppMessage(message) {
    if (!message || typeof message !== 'object') return;
    switch (message.type) {
      case 'notes-changed':
        lists.loadNotes();
        break;
      case 'reminders-changed':
        lists.loadReminders();
        break;
      case 'voice':
        voiceBadge.set(message, true);
        break;
      case 'reminder-due': {
        const due = parseTime(message.due_at);
        toast({
          title: `Reminder: ${message.text || ''}`.trim(),
          body: due ? `Due ${dueLabel(due)}` : '',
          kind: 'reminder',
          timeout: 15000,
        });
        chime();
        lists.loadReminders();
        break;
      }
      case 'voice-available':
        transcript.setVoiceless(!message.available);
        voiceStatus.set(Boolean(message.available));
        break;
      case 'llm-limit':
        llmLimit.show(message);
        break;
      case 'turn-timings':
        transcript.turnTimings(message);
        break;
      case 'session-moved':
        // The conversation went on in another tab or device; this call ends (no reconnect).
        call.moved();
        toast({
          title: 'Continued elsewhere',
          body: 'This conversation is now live in another tab or device.',
          kind: 'info',
          timeout: 8000,
        });
        break;
      case 'session': {
        if (message.voice) voiceBadge.set(message.voice, false);
        if (message.conversation_id) onConversation(message.conversation_id);
        lists.loadConversations();
        break;
      }
      default:
        break;
    }
  }

  return onRTVI;
}
