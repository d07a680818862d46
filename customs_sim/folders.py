"""The simulated customs behind the Single Window client's folders: the other side of the
file-drop transport (tally/customs/files.py), so a whole clearance can run through folders.

Each whole message file the enterprise drops into the outbox (``*.xml``, not a dot-name) is
read as the client would send it, validated and stored by the same Customs the HTTP server
serves (its idempotency key is the file's name, so a file dropped twice is stored once), then
moved to the SentBox; its CommonResponeMessage is written into the inbox as
``Successed_<file's name>_<timestamp>.xml`` (DealFlag 0, the SeqNo) or ``Failed_...`` (-1,
CheckInfo says why), and every receipt of the customs' feed as ``<type>_<message_id>.xml``:
the same sequence and numbers as over HTTP. Every file is written under a dot-name and renamed
into place. While a failure mode (down, error, slow, garbled) lasts, a file stays in the outbox,
as the client keeps what it could not send; in mode ``unsent`` the client gives up on the file
and moves it to its FailBox (no IC card, its own connection down), as the real one does.

Customs' key for a message is the file's name without its try (``_t-<n>``): the same message
handed over again after a FailBox is one message. The position in the receipt feed is kept in
``position_file`` (beside the simulator's state file) so that a restart writes no receipt twice;
temporary files a killed writer left in the inbox are removed at start.
"""

import os
import re
import threading
from datetime import datetime
from pathlib import Path

from customs_sim import receipts as r
from customs_sim import validation
from customs_sim.core import FAILURES, KINDS, Customs
from tally.customs.files import ready_files, remove_stale_temporaries, write_atomically

UNSENT = "unsent"  # the mode in which the client moves a file to its FailBox


class FolderExchange:
    """A Customs reading the enterprise's outbox folder and writing its inbox folder."""

    def __init__(self, customs: Customs, outbox: str | os.PathLike, inbox: str | os.PathLike,
                 *, sent: str | os.PathLike | None = None, fail: str | os.PathLike | None = None,
                 position_file: str | os.PathLike | None = None, interval: float = 0.1):
        self.customs = customs
        self.outbox, self.inbox = Path(outbox), Path(inbox)
        self.sent = Path(sent) if sent else self.outbox.parent / "SentBox"
        self.fail = Path(fail) if fail else self.outbox.parent / "FailBox"
        self.position_file = Path(position_file) if position_file else None
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        for folder in (self.outbox, self.inbox, self.sent, self.fail):
            folder.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.inbox)
        # The feed id of the last receipt written (kept across restarts when position_file is
        # given; else from 0: receipts written again are known to the enterprise by their
        # message_id and change nothing there).
        self.after = self._load_position()

    def _load_position(self) -> int:
        if self.position_file is None or not self.position_file.exists():
            return 0
        text = self.position_file.read_text(encoding="ascii").strip()
        return int(text) if text.isdigit() else 0

    def _save_position(self) -> None:
        if self.position_file is not None:
            write_atomically(self.position_file.parent, self.position_file.name,
                             f"{self.after}\n".encode("ascii"))

    def poll(self) -> int:
        """Take every whole message file waiting, then write the receipts due; return how many
        message files were taken."""
        with self._lock:
            taken = sum(self._take(path) for path in ready_files(self.outbox))
            receipts = self.customs.receipts(self.after)
            for receipt in receipts:
                name = f"{receipt['message_type']}_{receipt['message_id']}.xml"
                write_atomically(self.inbox, name, r.receipt_xml(receipt))
                self.after = receipt["id"]
            if receipts:
                self._save_position()
            return taken

    def _take(self, path: Path) -> int:
        stem = path.stem
        kind = stem.split("_", 1)[0]
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return 0
        self.customs.count_attempt()
        mode = self.customs.take_mode(declaration=True)
        if mode.name == UNSENT:  # the client gives up on it: into its FailBox, unsent
            os.replace(path, self.fail / path.name)
            return 0
        if mode.name in FAILURES:
            return 0  # the client could not send it: it stays in the outbox for the next try
        if kind not in KINDS:
            status, body = 400, {"errors": [f"{path.name}: not an INV101_ or SAS121_ file"]}
        else:
            payload, error = validation.decode(raw, "application/xml", kind)
            key = re.sub(r"_t-\d+$", "", stem)  # one message, whichever try brought it
            status, body = (400, {"errors": [error]}) if error else \
                self.customs.receive(kind, payload, key, mode=mode)
        if status == 200:
            answer = body["CommonResponeMessage"]
        else:  # not a message customs can read: refused, CheckInfo says why
            answer = r.common_response(None, "", "; ".join(body.get("errors") or []),
                                       "-1")["CommonResponeMessage"]
        outcome = "Successed" if str(answer.get("DealFlag")) == "0" else "Failed"
        stamp = datetime.now(r.CST).strftime("%Y%m%d%H%M%S%f")
        write_atomically(self.inbox, f"{outcome}_{stem}_{stamp}.xml",
                         r.common_response_xml(answer))
        os.replace(path, self.sent / path.name)
        return 1

    def start(self) -> "FolderExchange":
        """Poll in a background thread until stop(); returns self."""
        self._thread = threading.Thread(target=self._run, name="customs-folders", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.interval)

    def stop(self) -> None:
        """Stop polling and join the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> "FolderExchange":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
