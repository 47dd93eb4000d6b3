"""The shop's policy pages as passages, ranked for a question with BM25.

A page is a Markdown file in ``<home>/knowledge/`` (``settings.knowledge_dir``); the default
set (returns, delivery, payment, cancellations, account) ships in ``serving/assistant/policies``
and is copied there when the folder does not exist, so a shop edits its own copy. Each ``##``
section is one passage (its heading and text). BM25 (Robertson et al.; ``k1`` 1.5, ``b`` 0.75)
over lower-cased words, with a light plural fold (``refunds`` -> ``refund``) and English stop
words left out: a few dozen passages score in microseconds, and the words a customer uses for a
policy are the words the policy uses. The index is rebuilt when a file is added, removed or
changed (name, size and modification time, looked at no more than once a second).
"""

from __future__ import annotations

import math
import re
import shutil
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

#: The policy pages shipped with Mercato.
DEFAULT_DIR = Path(__file__).parent / "policies"
K1 = 1.5
B = 0.75
#: A passage is an answer only from this BM25 score on (below it, it shares a stray word).
MIN_SCORE = 1.0
CHECK_SECONDS = 1.0
_WORD = re.compile(r"[a-z0-9]+")


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


STOP_WORDS = _word_set(
    """a an and are as at be by can could do does for from get have how i if in is it its me my
    of on or our please so that the this to was we what when where which will with would you your
    want need know tell hi hello thanks"""
)


def words(text: str) -> list[str]:
    """Lower-cased words without stop words, plurals folded (``refunds`` -> ``refund``)."""
    out = []
    for word in _WORD.findall(text.lower()):
        if word in STOP_WORDS:
            continue
        if len(word) > 4 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        out.append(word)
    return out


@dataclass(frozen=True)
class Passage:
    """One section of a policy page."""

    file: str
    heading: str
    text: str


@dataclass(frozen=True)
class Hit:
    passage: Passage
    score: float


def ensure_defaults(folder: Path) -> None:
    """Copy the shipped policy pages into ``folder`` when it does not exist yet."""
    if not folder.exists():
        shutil.copytree(DEFAULT_DIR, folder)


def parse_page(name: str, text: str) -> list[Passage]:
    """The ``##`` sections of one Markdown page (text before the first one under its title)."""
    passages: list[Passage] = []
    title, heading, lines = name, name, []

    def flush() -> None:
        body = " ".join(line.strip() for line in lines if line.strip())
        if body:
            passages.append(Passage(name, heading, body))

    for line in text.splitlines():
        if line.startswith("# "):
            title = heading = line[2:].strip()
        elif line.startswith("## "):
            flush()
            heading, lines = line[3:].strip(), []
        else:
            lines.append(line)
    flush()
    return [p if p.heading else Passage(p.file, title, p.text) for p in passages]


class KnowledgeBase:
    """The passages of every ``*.md`` file of a folder, searched with BM25."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._lock = threading.Lock()
        self._signature: tuple = ()
        self._checked = 0.0
        self.passages: list[Passage] = []
        self._terms: list[Counter[str]] = []
        self._lengths: list[int] = []
        self._df: Counter[str] = Counter()
        self.reindex_count = 0

    def _current_signature(self) -> tuple:
        files = sorted(self.folder.glob("*.md")) if self.folder.is_dir() else []
        return tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files)

    def refresh(self, force: bool = False) -> None:
        """Re-index when a file changed (looked at no more than once a second unless forced)."""
        now = time.monotonic()
        if not force and now - self._checked < CHECK_SECONDS:
            return
        with self._lock:
            self._checked = now
            signature = self._current_signature()
            if signature == self._signature and not force:
                return
            passages = [
                passage
                for name, _, _ in signature
                for passage in parse_page(
                    name, (self.folder / name).read_text(encoding="utf-8", errors="replace")
                )
            ]
            terms = [Counter(words(f"{p.heading} {p.text}")) for p in passages]
            df: Counter[str] = Counter()
            for counts in terms:
                df.update(counts.keys())
            self.passages, self._terms, self._df = passages, terms, df
            self._lengths = [sum(c.values()) for c in terms]
            self._signature = signature
            self.reindex_count += 1

    def search(self, query: str, k: int = 3, prefer: str | None = None) -> list[Hit]:
        """The ``k`` best passages for ``query`` scoring at least :data:`MIN_SCORE`;
        ``prefer`` (a file name) breaks near-ties towards the page the intent points to."""
        self.refresh()
        query_words = set(words(query))
        n = len(self.passages)
        if not n or not query_words:
            return []
        average = sum(self._lengths) / n
        hits = []
        for passage, counts, length in zip(self.passages, self._terms, self._lengths, strict=True):
            score = 0.0
            for word in query_words:
                tf = counts.get(word, 0)
                if not tf:
                    continue
                idf = math.log(1.0 + (n - self._df[word] + 0.5) / (self._df[word] + 0.5))
                score += idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * length / average))
            if prefer and passage.file == prefer and score > 0:
                score *= 1.25
            if score >= MIN_SCORE:
                hits.append(Hit(passage, score))
        hits.sort(key=lambda h: (-h.score, h.passage.file, h.passage.heading))
        return hits[:k]
