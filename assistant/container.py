"""The application container: settings, guide, retriever, assistant, store — built
lazily, once per process (the only process-wide state)."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from assistant.abstain import AbstainConfig
from assistant.lead_ranker import load_lead_ranker
from assistant.service import Assistant
from assistant.store import Store
from assistant.thesaurus import Thesaurus, load_lexicon
from ingest import load_guide
from ingest.errors import KanminError
from ingest.models import Guide
from ingest.settings import DATA_DIR, Settings, get_settings
from ingest.toc_en import load_toc_en

log = logging.getLogger("kanmin.container")
ABSTENTION_PATH = DATA_DIR / "abstention.json"


@dataclass
class Container:
    settings: Settings
    guide: Guide | None = None
    store: Store | None = None
    assistant: Assistant | None = None
    error: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def load(self) -> "Container":
        """Load guide, index and store; an index problem is kept as the not-ready reason."""
        with self._lock:
            if self.assistant is not None:
                return self
            try:
                from index.loader import load_index

                self.guide = self.guide or load_guide(self.settings)
                if self.store is None:
                    self.store = Store.from_settings(self.settings)
                    # bounded history, pruned once per start rather than on every answer
                    self.store.prune_sessions(self.settings.history_keep_turns)
                retriever = load_index(self.settings, corpus_sha256=self.guide.corpus_sha256,
                                       glossary=self.guide.glossary, en_aliases=self.guide.en_aliases)
                lexicon = load_lexicon(self.settings.lexicon_en_path)  # one read: the thesaurus's and Unmentioned's
                self.assistant = Assistant(
                    self.guide, retriever, self.store, AbstainConfig.load(ABSTENTION_PATH),
                    generator=make_generator(self.settings), history_turns=self.settings.history_turns,
                    thesaurus=Thesaurus.load(self.settings.thesaurus_path, lexicon),
                    toc_en=load_toc_en(self.settings.toc_en_path, self.settings.list_items_en_path),
                    english_words=list(lexicon),
                    lead_ranker=load_lead_ranker(self.settings.lead_ranker_path),
                )
                self.error = None
            except KanminError as exc:
                self.error = exc.message
                raise
            return self

    def ready(self) -> tuple[bool, str]:
        if self.assistant is not None:
            return True, "ready"
        return False, self.error or "loading"


def make_generator(settings: Settings):
    if settings.llm_backend == "none":
        return None
    from assistant.generative import LlmGenerator

    return LlmGenerator.from_settings(settings)


_container: Container | None = None
_container_lock = threading.Lock()


def get_container(load: bool = True) -> Container:
    global _container
    with _container_lock:
        if _container is None:
            _container = Container(get_settings())
    if load:
        _container.load()
    return _container


def reset_container() -> None:
    global _container
    with _container_lock:
        _container = None
