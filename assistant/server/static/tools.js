// What the page calls each tool's calls, as the server names them (GET /api/tools, from the
// tools registry): "took a note" once done, "taking a note" while it runs, and an icon by topic.

// Symbol ids in index.html, per topic of the registry.
const TOPIC_ICONS = Object.freeze({ notes: 'i-note', reminders: 'i-bell', voice: 'i-wave', memory: 'i-memory' });

export class ToolLabels {
  constructor(labels = []) {
    this.byName = new Map();
    this.learn(labels);
  }

  /** Adds the server's labels, `[{name, topic, done, doing}]`; anything else is ignored. */
  learn(labels) {
    if (!Array.isArray(labels)) return;
    for (const label of labels) {
      if (label && typeof label.name === 'string' && typeof label.done === 'string' && typeof label.doing === 'string') {
        this.byName.set(label.name, label);
      }
    }
  }

  /** A short phrase for a call: phase "done" ("took a note") or "active" ("taking a note"). */
  describe(name, phase = 'done') {
    if (!name) return phase === 'done' ? 'used a tool' : 'working on it';
    const label = this.byName.get(name);
    if (label) return phase === 'done' ? label.done : label.doing;
    // A tool the server does not name (one since renamed, in an old conversation): its own name.
    const words = String(name).replace(/[_-]+/g, ' ').trim();
    return phase === 'done' ? `used ${words}` : `using ${words}`;
  }

  /** The icon (a symbol id in index.html) for a call's line in the transcript. */
  icon(name) {
    const label = name ? this.byName.get(name) : null;
    return label && Object.hasOwn(TOPIC_ICONS, label.topic) ? TOPIC_ICONS[label.topic] : 'i-tool';
  }
}
