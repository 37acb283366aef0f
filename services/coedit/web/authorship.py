"""Who wrote which part of the document: the edit log's operations replayed over
the text, each inserted character attributed to the agent whose edit inserted it.

The text node resolves an anchored edit against its own text at the time; the
replay resolves it the same way (`coedit.common.anchors.resolve`) against the
replayed text. Where the two can part (an edit replicated from another node, whose
anchor was resolved before this node's neighbouring edits), the replay is
corrected from the node's real text of that version with a word diff: what is
kept keeps its author, what is new goes to the edit's agent."""

from dataclasses import dataclass, field
from itertools import groupby

from coedit.common.anchors import AnchorError, resolve
from coedit.text_node.models import EditOp
from coedit.common.diff import word_diff

INITIAL = ""
"""Author of the initial text."""
UNKNOWN = "?"
"""Author of text the replay could not attribute."""


@dataclass(frozen=True)
class Run:
    author: str
    text: str


@dataclass
class Authorship:
    """The replayed text and, per character, the index of its author in `authors`."""

    text: str
    version: int = 0
    authors: list[str] = field(default_factory=lambda: [INITIAL])
    owners: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.owners:
            self.owners = [0] * len(self.text)

    def _author_index(self, agent: str) -> int:
        try:
            return self.authors.index(agent)
        except ValueError:
            self.authors.append(agent)
            return len(self.authors) - 1

    def apply(self, version: int, agent: str, op: EditOp | dict) -> bool:
        """Replay one edit; False (and nothing changed) if its anchor does not
        resolve in the replayed text: call `correct` with the real text then."""
        op = op if isinstance(op, EditOp) else EditOp.model_validate(op)
        try:
            splice = resolve(self.text, op)
        except AnchorError:
            return False
        who = self._author_index(agent)
        self.text = splice.apply(self.text)
        self.owners[splice.start : splice.end] = [who] * len(splice.insert)
        self.version = version
        return True

    def correct(self, version: int, agent: str, actual: str) -> None:
        """Make the replay equal `actual`: kept words keep their authors, words
        only in `actual` are attributed to `agent`."""
        who = self._author_index(agent)
        owners: list[int] = []
        position = 0
        for segment in word_diff(self.text, actual):
            size = len(segment.text)
            if segment.kind == "equal":
                owners += self.owners[position : position + size]
                position += size
            elif segment.kind == "delete":
                position += size
            else:
                owners += [who] * size
        self.text, self.owners, self.version = actual, owners, version

    def runs(self) -> list[Run]:
        """Maximal passages written by one author, in text order."""
        runs, position = [], 0
        for owner, group in groupby(self.owners):
            size = sum(1 for _ in group)
            runs.append(Run(self.authors[owner], self.text[position : position + size]))
            position += size
        return runs

    def shares(self) -> dict[str, int]:
        """Characters of the current text per author, largest first."""
        counts: dict[str, int] = {}
        for run in self.runs():
            counts[run.author] = counts.get(run.author, 0) + len(run.text)
        return dict(sorted(counts.items(), key=lambda item: -item[1]))
