// What the page tells the user besides the transcript: toasts, the reminder chime, the one
// line that says whether replies are heard, and the badge of how the assistant sounds.

import { formatFactor } from './format.js';
import { svgIcon } from './icon.js';

const TOAST_ICONS = { reminder: 'i-bell', error: 'i-close', info: 'i-tool' };
const MAX_TOASTS = 4;

export function toast(container, { title, body = '', kind = 'info', timeout = 6000 }) {
  const node = document.createElement('div');
  node.className = `toast ${kind}`;
  node.dataset.testid = 'toast';
  if (kind === 'error') node.setAttribute('role', 'alert');
  const icon = document.createElement('div');
  icon.className = 'toast-icon';
  icon.append(svgIcon(TOAST_ICONS[kind] || TOAST_ICONS.info));
  const text = document.createElement('div');
  const heading = document.createElement('div');
  heading.className = 'toast-title';
  heading.textContent = title;
  text.append(heading);
  if (body) {
    const p = document.createElement('div');
    p.className = 'toast-body';
    p.textContent = body;
    text.append(p);
  }
  const close = document.createElement('button');
  close.type = 'button';
  close.className = 'icon-btn';
  close.setAttribute('aria-label', 'Dismiss');
  close.append(svgIcon('i-close', 'icon-sm'));
  node.append(icon, text, close);

  let timer = null;
  const dismiss = () => {
    if (!node.isConnected || node.classList.contains('leaving')) return;
    clearTimeout(timer);
    node.classList.add('leaving');
    setTimeout(() => node.remove(), 260);
  };
  close.addEventListener('click', dismiss);
  if (timeout) {
    const arm = () => {
      timer = setTimeout(dismiss, timeout);
    };
    node.addEventListener('mouseenter', () => clearTimeout(timer));
    node.addEventListener('mouseleave', arm);
    arm();
  }
  container.append(node);
  while (container.children.length > MAX_TOASTS) container.firstElementChild.remove();
  return node;
}

let chimeContext = null;

export function chime() {
  try {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    const ctx = chimeContext || (chimeContext = new Ctx());
    const now = ctx.currentTime;
    [880, 1318.5].forEach((freq, i) => {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = 'sine';
      osc.frequency.value = freq;
      const start = now + i * 0.16;
      gain.gain.setValueAtTime(0.0001, start);
      gain.gain.exponentialRampToValueAtTime(0.12, start + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.5);
      osc.connect(gain).connect(ctx.destination);
      osc.start(start);
      osc.stop(start + 0.55);
    });
  } catch {
    /* sound is a nicety */
  }
}

export const VOICE_BACK_SHOWN_MS = 5000;

/**
 * One place says whether replies are heard: each voice-available message replaces what it said.
 * `clock` (setTimeout, clearTimeout) is the window's, or a test's.
 */
export class VoiceStatus {
  constructor({ node, title, text }, clock = globalThis) {
    this.node = node;
    this.title = title;
    this.text = text;
    this.clock = clock;
    this.timer = null;
  }

  /** `false`: voice out, until it is back; `true`: back (said for a few seconds); `null`: nothing. */
  set(available) {
    this.clock.clearTimeout(this.timer);
    this.timer = null;
    const { node } = this;
    if (available === null) {
      node.hidden = true;
      delete node.dataset.voice;
      return;
    }
    node.dataset.voice = available ? 'back' : 'out';
    this.title.textContent = available ? 'Voice is back' : 'Voice unavailable';
    this.text.textContent = available
      ? ''
      : 'Replies are shown here as text; the voice comes back by itself when it can.';
    node.hidden = false;
    if (available) this.timer = this.clock.setTimeout(() => this.set(null), VOICE_BACK_SHOWN_MS);
  }
}

/**
 * The language service refuses for a while (a spent daily limit, a long wait): said in the dock
 * until it resets (the assistant says it once). `clock` is the window's, or a test's.
 */
export class LlmLimit {
  constructor(node, clock = globalThis) {
    this.node = node;
    this.clock = clock;
    this.timer = null;
  }

  show({ message, resets_in_secs: resetsInSecs }) {
    this.node.textContent = message || 'The language service is refusing requests for now.';
    this.node.hidden = false;
    this.clock.clearTimeout(this.timer);
    const secs = Number(resetsInSecs) || 60;
    this.timer = this.clock.setTimeout(() => {
      this.node.hidden = true;
    }, secs * 1000);
  }
}

export const DEFAULT_VOICE = Object.freeze({ emotion: 'neutral', speed: 1, volume: 1 });

/** A voice message (or part of one) over the voice so far. */
export function nextVoice(current, voice) {
  return {
    emotion: voice.emotion || current.emotion || 'neutral',
    speed: voice.speed ?? current.speed ?? 1,
    volume: voice.volume ?? current.volume ?? 1,
  };
}

/** The badge's words for a voice: what differs from normal speed and volume, and a tooltip. */
export function describeVoice({ emotion, speed, volume }) {
  const extra = [];
  if (Math.abs(Number(speed) - 1) > 0.001) extra.push(`${formatFactor(speed)}×`);
  if (Math.abs(Number(volume) - 1) > 0.001) extra.push(`${Math.round(Number(volume) * 100)}% vol`);
  return {
    extra: extra.length ? `· ${extra.join(' · ')}` : '',
    title: `Voice: ${emotion}, speed ${formatFactor(speed)}×, volume ${formatFactor(volume)}×`,
  };
}

/** How the assistant sounds, next to the conversation's title. */
export class VoiceBadge {
  constructor({ badge, emotion, extra }) {
    this.badge = badge;
    this.emotion = emotion;
    this.extra = extra;
    this.voice = { ...DEFAULT_VOICE };
  }

  /** Shows `voice`; with `animate`, a change is flashed (the assistant was asked to sound different). */
  set(voice, animate) {
    const next = nextVoice(this.voice, voice);
    const changed = next.emotion !== this.voice.emotion || next.speed !== this.voice.speed || next.volume !== this.voice.volume;
    this.voice = next;
    const { extra, title } = describeVoice(next);
    this.emotion.textContent = next.emotion;
    this.extra.textContent = extra;
    this.badge.title = title;
    if (animate && changed) {
      this.badge.classList.remove('changed');
      void this.badge.offsetWidth;
      this.badge.classList.add('changed');
    }
  }
}
