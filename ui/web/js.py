"""Browser-side behaviour of the web UI, delegated on ``document`` so it survives every re-render.

- a citation chip toggles that turn's evidence panel and brings it into view (no server call);
- a suggested or example question ([data-q]) is put into the box and sent with the ask button,
  so every send goes through the one ask event (which Gradio runs once at a time);
- the copy button copies the answer with its sources;
- the character counter under the box shows the length limit before sending.
Clicks on [data-nav] (page links, "whole section") go to the server through the reader's
js_on_load (READER_JS), which owns Gradio's ``trigger``.
"""
from __future__ import annotations

from assistant.inputs import MAX_QUESTION_CHARS

HEAD = """<script>
document.documentElement.lang = "ja";
(() => {
  if (window.__kanmin) return;
  window.__kanmin = true;
  const LIMIT = %(limit)d;
  const fmt = (n) => n.toLocaleString("en-US");
  function openEvidence(chip) {
    const turn = chip.closest(".kc-turn-a");
    if (!turn) return;
    const n = chip.getAttribute("data-n");
    const panel = turn.querySelector('.kc-ev[data-n="' + n + '"]');
    if (!panel) return;
    const wasOpen = !panel.hidden;
    turn.querySelectorAll(".kc-ev").forEach((p) => { p.hidden = true; });
    turn.querySelectorAll(".kc-cite").forEach((c) => { c.classList.remove("kc-active"); c.setAttribute("aria-expanded", "false"); });
    if (wasOpen) return;
    panel.hidden = false;
    turn.querySelectorAll('.kc-cite[data-n="' + n + '"]').forEach((c) => { c.classList.add("kc-active"); c.setAttribute("aria-expanded", "true"); });
    const box = panel.querySelector(".kc-passage");
    const mark = panel.querySelector("mark.kc-quote");
    if (box && mark) box.scrollTop = Math.max(0, mark.offsetTop - box.offsetTop - 24);
    panel.scrollIntoView({block: "nearest", inline: "nearest"});
    // the chat may still be scrolling or re-rendering (a late update on a busy machine): for the
    // next 2 s the poll below brings the panel back into view if anything moved it out
    pinned = {panel: panel, until: Date.now() + 2000};
  }
  let pinned = null;
  function keepPinned() {
    if (!pinned) return;
    const p = pinned.panel;
    if (Date.now() > pinned.until || p.hidden || !p.isConnected) { pinned = null; return; }
    const r = p.getBoundingClientRect();
    if (r.top < 0 || r.bottom > window.innerHeight) p.scrollIntoView({block: "nearest", inline: "nearest"});
  }
  function send(q) {
    const box = document.querySelector("#question textarea");
    const btn = document.querySelector("#ask");
    if (!box || !btn || btn.disabled) return;
    box.value = q;
    box.dispatchEvent(new Event("input", {bubbles: true}));
    setTimeout(() => btn.click(), 50);
  }
  function copy(text, btn) {
    const done = () => { btn.classList.add("kc-copied"); setTimeout(() => btn.classList.remove("kc-copied"), 1500); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, () => legacyCopy(text) && done());
    } else if (legacyCopy(text)) { done(); }
  }
  function legacyCopy(text) {
    const ta = document.createElement("textarea");
    ta.value = text; ta.style.position = "fixed"; ta.style.opacity = "0";
    document.body.appendChild(ta); ta.select();
    let ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    ta.remove();
    return ok;
  }
  document.addEventListener("click", (e) => {
    const el = e.target.closest ? e.target : null;
    if (!el) return;
    const chip = el.closest(".kc-turn-a .kc-cite");
    if (chip) { e.preventDefault(); openEvidence(chip); return; }
    const q = el.closest("[data-q]");
    if (q) { e.preventDefault(); send(q.getAttribute("data-q")); return; }
    const cp = el.closest(".kc-copy");
    if (cp) { e.preventDefault(); copy(cp.getAttribute("data-copy") || "", cp); return; }
    const close = el.closest(".kc-close");
    if (close) { e.preventDefault(); const r = close.closest(".kc-reader"); if (r) r.hidden = true; }
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") document.querySelectorAll(".kc-reader").forEach((r) => { r.hidden = true; });
  });
  // the chat scrolls to its newest question when a question is added, and only then:
  // Gradio's own autoscroll also fires on other updates and pulled an opened evidence panel away
  // (answer rows no longer count either: a reader of an earlier turn's evidence stays there)
  let shownQuestions = 0;
  function followNewest() {
    const log = document.querySelector("#chat [role=log]");
    if (!log) return;
    const users = log.querySelectorAll(".message-row.user-row");
    if (users.length > shownQuestions) {
      // the newest question at the top, its answer below it (read from the start)
      const last = users[users.length - 1];
      log.scrollTop += last.getBoundingClientRect().top - log.getBoundingClientRect().top;
    }
    shownQuestions = users.length;
  }
  // the counter polls: Gradio also sets the box (clears it after an answer) without input events
  // a newly opened section view starts at the cited passage (once per opening)
  let seenReader = "";
  function showCited() {
    const r = document.querySelector("#reader .kc-reader");
    if (!r || r.hidden) return;
    const id = r.getAttribute("data-open") || "";
    if (id === seenReader) return;
    seenReader = id;
    const c = r.querySelector(".kc-cited");
    if (c) r.scrollTop += c.getBoundingClientRect().top - r.getBoundingClientRect().top - 48;
  }
  setInterval(() => {
    followNewest();
    keepPinned();
    showCited();
    const box = document.querySelector("#question textarea");
    const out = document.querySelector("#q-counter");
    if (!box || !out) return;
    const n = box.value.length;
    const en = document.documentElement.lang === "en";
    const over = n > LIMIT;
    const text = over
      ? (en ? `${fmt(n)} / ${fmt(LIMIT)} characters: too long, shorten it to send`
            : `${fmt(n)} / ${fmt(LIMIT)}字：長すぎます。短くしてから送信してください`)
      : (en ? `${fmt(n)} / ${fmt(LIMIT)} characters` : `${fmt(n)} / ${fmt(LIMIT)}字`);
    if (out.textContent !== text) out.textContent = text;
    out.classList.toggle("kc-over", over);
    out.setAttribute("data-count", String(n));
  }, 250);
})();
</script>""" % {"limit": MAX_QUESTION_CHARS}

# js_on_load of the reader panel: a click on any [data-nav] in the page opens it there. The
# listener is bound once per page; ``trigger`` is refreshed whenever the component mounts again.
READER_JS = """window.__kcNavTrigger = trigger;
if (!window.__kcNavBound) {
  window.__kcNavBound = true;
  document.addEventListener('click', (e) => {
    const a = e.target.closest ? e.target.closest('[data-nav]') : null;
    if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button === 1) return;  // new tab: the real link
    e.preventDefault();
    window.__kcNavTrigger('click', {nav: a.getAttribute('data-nav')});
  });
}"""

# after "Markdown で書き出す": download the text of the export box as a .md file
DOWNLOAD_MD = """(md) => {
  if (!md) return [];
  const blob = new Blob([md], {type: "text/markdown;charset=utf-8"});
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = "kanmin-conversation.md";
  document.body.appendChild(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  return [];
}"""
