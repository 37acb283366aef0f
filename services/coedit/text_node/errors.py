"""What the document core refuses, in the domain's words. The text node's app maps
each to its HTTP status in one place (`app.install_domain_errors`); the core itself
knows nothing of HTTP."""


class DocumentError(Exception):
    """A change or read the node refuses; `code` is the stable `error` of the answer."""

    code = "document_error"

    def __init__(self, detail: str, **extra):
        super().__init__(detail)
        self.detail, self.extra = detail, extra


class BudgetExhausted(DocumentError):
    code = "budget_exhausted"


class BudgetUnavailable(DocumentError):
    """The budget could cover the request, but the rights for it sit on nodes that
    do not answer now (a node's share waits for it): retry."""

    code = "budget_unavailable"


class ReservationNotFound(DocumentError):
    code = "reservation_not_found"


class EditTooLarge(DocumentError):
    code = "edit_too_large"


class DocumentTooLarge(DocumentError):
    code = "document_too_large"


class InvalidUpdate(DocumentError):
    """A peer's record that is not a CRDT update this document can decode."""

    code = "invalid_update"


class PersonChangeRefused(DocumentError):
    """A person's Yjs update that would change more than the text (people.py)."""

    code = "only_text"


class StorageUnavailable(DocumentError):
    """The node's database is away: nothing was changed; retry later."""

    code = "storage_unavailable"


class EditInProgress(DocumentError):
    """A POST of the edit looked up is still on its way to the writer: retry."""

    code = "edit_in_progress"


class DocumentSwitching(DocumentError):
    """The nodes are restarting the document in a new generation (generations.py):
    writes wait for it, and past a few seconds are refused: retry."""

    code = "document_switching"


class DocumentRestarted(DocumentError):
    """A person's change made on an earlier generation of the document (people.py)."""

    code = "document_restarted"


class HistoryCatchingUp(DocumentError):
    """A version applied in bulk whose text the history builder has not rebuilt yet."""

    code = "history_catching_up"


class StorageInconsistent(Exception):
    """The database holds versions whose edits its own log cannot rebuild: the node
    must not start (numbering new versions on top would fork its history)."""


class ChangeFailed(DocumentError):
    """A bug while applying one change: that request fails, the writer goes on."""

    code = "internal_error"
