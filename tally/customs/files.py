"""The file-drop transport: messages handed to the Single Window client (中国电子口岸 / 单一窗口
客户端) through folders, as real enterprises do; the client signs each with the IC card, sends
it, and puts customs' answers and receipts into an inbox folder.

The client's folders (as ronannnn/gx-customs-bridge, internal/services/customs/common/
filepath_handler.go, names them): ``OutBox`` (we write), ``SentBox`` (the client moves what it
sent), ``FailBox`` (what it could not send), ``InBox`` (answers and receipts for us). We add
``done`` and ``failed`` beside the inbox for the files we have processed.

Out: one file per message, the XML exactly as message_xml.render_xml builds it (UTF-8, the
envelope), named ``<type>_<I|E>_<our number>-<version>_t-<try>.xml`` as gx-customs-bridge
names what it drops (sas/filename_handler.go: ``INV101_I_123456_t-1.xml``): the version is the
one in our idempotency key (``INV101-<etpsInnerInvtNo>-<version>``, a re-declaration is a new
file), the try counts hand-overs to the client. It is written under a temporary name starting
with a dot in the same folder, fsynced, then renamed into place, so the client never reads half
a file. A message whose file (any try) exists already in the outbox, the sent or the fail box,
or whose answer is in the inbox (or done / failed), is not written again: a worker killed
between the rename and the database commit sends it once.

A file the client could not send (no IC card, its own connection down) lands in ``FailBox``.
As gx-customs-bridge does (sas.go, HandleFailBoxFile), it is put back into the outbox as the
next try, up to ``TALLY_CUSTOMS_CLIENT_TRIES`` (3) tries; then it is moved to failed with an
.error note and the message fails. Each such file comes to the outbox module as an item of
type ``FailBox``, so the consignment page says what happened.

In: the client answers each file with ``Successed_<our file's name without .xml>_<timestamp>
.xml`` or ``Failed_...`` holding a CommonResponeMessage (DealFlag 0 with the SeqNo, or -1 and
CheckInfo); customs' receipts (INV201, SAS221, SAS223, SAS224) are ``Package`` files, told apart
by their content's message_type. Only ``*.xml`` files not starting with a dot are read: the
writer writes under another name and renames into place (the convention we follow ourselves),
so a file being written is never picked up. Each processed file is moved to done (applied, or
known already) or failed (unreadable, with ``<name>.error`` beside it saying why).
"""

import glob
import logging
import os
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import unquote

from tally.customs.client import MESSAGE_PATHS, CustomsRejected, CustomsUnavailable, Delivery
from tally.customs.message_xml import render_xml
from tally.db import now

log = logging.getLogger(__name__)

ANSWER = "CommonResponeMessage"  # sic: customs' spelling
ANSWER_PREFIXES = ("Successed_", "Failed_")  # sic: the Single Window client's spelling
RECEIPT_TYPES = ("INV201", "SAS221", "SAS223", "SAS224")
HEADS = {"INV201": "BondInvtBsc", "SAS221": "SasPassportBsc", "SAS223": "SasPassportBsc",
         "SAS224": "SasPassportBsc"}
# Characters a file name part may not hold: "_" separates the parts, the others are not
# allowed in Windows file names (the Single Window client runs on Windows). Written %XX.
_UNSAFE = re.compile(r'[_%/\\:*?"<>| \t\r\n]')
_OUR_NAME = r"(INV101|SAS121)_([IEN])_([^_]+)_t-(\d+)"
_ANSWER_NAME = re.compile(rf"(?:Successed|Failed)_{_OUR_NAME}(?:_.*)?")
_MESSAGE_NAME = re.compile(_OUR_NAME)
FAIL_BOX = "FailBox"  # the item type of a file the client could not send


def folders(config) -> dict[str, Path]:
    """The folders of the file-drop transport from the configuration: the outbox and inbox
    (required), and beside them the client's SentBox and FailBox, and our done and failed."""
    if not config.get("CUSTOMS_OUTBOX_DIR") or not config.get("CUSTOMS_INBOX_DIR"):
        raise ValueError("TALLY_CUSTOMS_TRANSPORT=files needs TALLY_CUSTOMS_OUTBOX_DIR and "
                         "TALLY_CUSTOMS_INBOX_DIR")
    outbox, inbox = Path(config["CUSTOMS_OUTBOX_DIR"]), Path(config["CUSTOMS_INBOX_DIR"])
    return {"outbox": outbox, "inbox": inbox,
            "sent": Path(config.get("CUSTOMS_SENT_DIR") or outbox.parent / "SentBox"),
            "fail": Path(config.get("CUSTOMS_FAIL_DIR") or outbox.parent / "FailBox"),
            "done": Path(config.get("CUSTOMS_DONE_DIR") or inbox.parent / "done"),
            "failed": Path(config.get("CUSTOMS_FAILED_DIR") or inbox.parent / "failed")}


def file_stem(kind: str, io: str, idempotency_key: str, attempt: int = 1) -> str:
    """Our file's name without .xml: ``INV101_I_<our number>-<version>_t-<try>``, from the
    idempotency key ``<kind>-<our number>-<version>``; ValueError for another key."""
    found = re.fullmatch(rf"{kind}-(.+-\d+)", idempotency_key)
    if not found or kind not in MESSAGE_PATHS:
        raise ValueError(f"idempotency key {idempotency_key!r} is not <kind>-<number>-<version>")
    number = _UNSAFE.sub(lambda m: f"%{ord(m[0]):02X}", found[1])
    return f"{kind}_{io if io in ('I', 'E', 'N') else 'I'}_{number}_t-{int(attempt)}"


def _name_parts(found: re.Match) -> tuple[str, str, int]:
    """(idempotency key, name without the try, try) of a matched file name of ours."""
    kind, io, number, attempt = found.groups()
    return f"{kind}-{unquote(number)}", f"{kind}_{io}_{number}", int(attempt)


def key_of_answer(file_name: str) -> str | None:
    """The idempotency key of the message a Successed_ / Failed_ answer file is about, or None
    when the name is not one."""
    found = _ANSWER_NAME.fullmatch(Path(file_name).stem)
    return _name_parts(found)[0] if found else None


def write_atomically(folder: Path, name: str, data: bytes) -> Path:
    """Write ``data`` as ``folder/name``: under a dot-name first, fsynced, then renamed into
    place (atomic on one file system) and the folder fsynced, so the file is whole or absent."""
    folder.mkdir(parents=True, exist_ok=True)
    target, tmp = folder / name, folder / f".{name}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)
    _fsync_dir(folder)
    return target


# write_atomically's temporary name: a dot, the file's name, the writer's process id.
_TEMPORARY = re.compile(r"\..+\.(\d+)\.tmp")


def remove_stale_temporaries(folder: Path, *, older_than: float = 600.0) -> list[str]:
    """Remove the temporary files a killed writer left in ``folder`` (write_atomically's
    dot-names, untouched for ``older_than`` seconds); return their names. Called at start by
    the side that writes the folder; a file another program is writing now is younger."""
    removed = []
    if not folder.is_dir():
        return removed
    for path in folder.iterdir():
        if not _TEMPORARY.fullmatch(path.name):
            continue
        try:
            if time.time() - path.stat().st_mtime >= older_than:
                path.unlink()
                removed.append(path.name)
        except FileNotFoundError:
            continue
    if removed:
        log.warning("removed temporary files a killed writer left in %s: %s", folder, removed)
    return removed


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ready_files(folder: Path) -> list[Path]:
    """The whole files waiting in a folder: ``*.xml`` not starting with a dot (a writer's
    temporary name), oldest first (by modification time, then name)."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob("*.xml"):
        if path.name.startswith("."):
            continue
        try:
            found.append((path.stat().st_mtime_ns, path.name, path))
        except FileNotFoundError:  # taken by someone else meanwhile
            continue
    return [path for _, _, path in sorted(found)]


def parse_receipt_xml(data: bytes) -> dict:
    """A receipt file as the dict tally/receipts.py applies (the shape of the HTTP feed), or an
    answer ``{"message_type": "CommonResponeMessage", "CommonResponeMessage": {...}}``;
    ValueError when it is neither."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as e:
        raise ValueError(f"not well-formed XML: {e}") from None
    _strip_namespaces(root)
    if root.tag == ANSWER:
        answer = {child.tag: (child.text or "").strip() for child in root}
        if "DealFlag" not in answer:
            raise ValueError("CommonResponeMessage without DealFlag")
        return {"message_type": ANSWER, ANSWER: answer}
    if root.tag != "Package":
        raise ValueError(f"neither a CommonResponeMessage nor a Package: <{root.tag}>")
    message_type = (root.findtext("EnvelopInfo/message_type") or "").strip()
    if message_type not in RECEIPT_TYPES:
        raise ValueError(f"not a receipt we know: message_type {message_type!r}")
    body = root.find(f"DataInfo/BussinessData/{message_type}")
    result = body.find("HdeApprResult") if body is not None else None
    message_id = (root.findtext("EnvelopInfo/message_id") or "").strip()
    if result is None or not message_id:
        raise ValueError(f"{message_type} without message_id or HdeApprResult")
    receipt = {"id": None, "message_id": message_id, "message_type": message_type,
               "send_time": (root.findtext("EnvelopInfo/send_time") or "").strip(),
               "HdeApprResult": _fields(result)}
    head = body.find(HEADS[message_type])
    if head is not None:
        receipt[HEADS[message_type]] = _fields(head)
    return receipt


def _strip_namespaces(root: ET.Element) -> None:
    # The real receipts carry xmlns="http://www.w3.org/2000/09/xmldsig#" (gx-customs-bridge's
    # INV201.xml); the answers none.
    for element in root.iter():
        if isinstance(element.tag, str) and "}" in element.tag:
            element.tag = element.tag.split("}", 1)[1]


def _fields(element: ET.Element) -> dict:
    return {child.tag: (child.text or "").strip() for child in element}


class FileDropTransport:
    """The outbox's transport through the Single Window client's folders: send_message writes
    a file, receipt_batches reads the inbox (the interface of CustomsClient)."""

    def __init__(self, paths: dict[str, Path], *, tries: int = 3):
        self.paths = paths
        self.tries = tries
        for folder in ("outbox", "failed"):  # the folders we write into
            remove_stale_temporaries(paths[folder])
        self.base_url = f"file:{paths['outbox']}"

    @classmethod
    def from_config(cls, config) -> "FileDropTransport":
        """The transport with the configured folders."""
        return cls(folders(config), tries=int(config.get("CUSTOMS_CLIENT_TRIES") or 3))

    def send_message(self, kind: str, payload: dict, *, idempotency_key: str) -> Delivery:
        """Write the message's XML into the outbox folder, once: a message whose file or answer
        is found already is not written again. The answer (CommonResponeMessage) comes later
        in the inbox, so the Delivery's body names the file and has no SeqNo."""
        started = time.perf_counter()
        head = payload.get("head") or {}
        io = str(head.get("impexpMarkcd" if kind == "INV101" else "ioTypecd") or "I")
        try:
            stem = file_stem(kind, io, idempotency_key)
            xml = render_xml(kind, payload, message_id=idempotency_key, send_time=now())
        except (KeyError, TypeError, ValueError) as exc:
            raise CustomsRejected(f"cannot write {kind} as a file: {exc}", detail=str(exc)) \
                from exc
        name = f"{stem}.xml"
        try:
            found = self._written(stem)
            if found is None:
                write_atomically(self.paths["outbox"], name, xml.encode("utf-8"))
        except OSError as exc:  # a full disk, a folder the client holds: try again later
            raise CustomsUnavailable(f"cannot write {name}: {exc}", detail=str(exc)) from exc
        body = {"file": name, "written": found is None, **({"found": found} if found else {})}
        return Delivery(status=None, body=body,
                        duration_ms=(time.perf_counter() - started) * 1000)

    def _written(self, stem: str) -> str | None:
        """Where a file of ``stem`` (any try), or its answer, is already (a folder's name), or
        None."""
        base = glob.escape(stem.rsplit("_t-", 1)[0])
        for folder in ("outbox", "sent", "fail", "inbox", "done", "failed"):
            for prefix in ("", *ANSWER_PREFIXES):
                if prefix == "" and folder in ("inbox", "done"):
                    continue
                if any(self.paths[folder].glob(f"{prefix}{base}_t-*.xml")):
                    return folder
        return None

    def receipt_batches(self, after: int = 0) -> Iterator[tuple[list[dict], Callable]]:
        """Each whole file of the inbox as a batch of one (answers and receipts, oldest first;
        answers before receipts), with the function that moves it to done once the batch is
        recorded. An unreadable file is moved to failed with its .error note, not yielded.
        ``after`` (the HTTP feed's position) means nothing here: a file is read until moved.
        Files the client could not send come first, as FailBox items (fail_box_items)."""
        yield from self.fail_box_items()
        files = ready_files(self.paths["inbox"])
        files.sort(key=lambda p: not p.name.startswith(ANSWER_PREFIXES))  # stable
        for path in files:
            try:
                item = parse_receipt_xml(path.read_bytes())
            except FileNotFoundError:
                continue
            except ValueError as exc:
                self._move(path, "failed", error=str(exc))
                continue
            if item["message_type"] == ANSWER:
                key = key_of_answer(path.name)
                if key is None:
                    self._move(path, "failed", error=f"an answer named {path.name!r}: not "
                               "Successed_/Failed_<our file>_<timestamp>.xml")
                    continue
                item.update(idempotency_key=key, file=path.name)
            yield [item], lambda path=path: self._move(path, "done")

    def fail_box_items(self) -> Iterator[tuple[list[dict], Callable]]:
        """Each file of ours in the FailBox as a batch of one ``{"message_type": "FailBox",
        "idempotency_key", "file", "try", "tries", "next_file"}`` (next_file None: no try left),
        with the function that, once the item is recorded, puts the file back into the outbox
        as its next try, or moves it to failed."""
        for path in ready_files(self.paths["fail"]):
            found = _MESSAGE_NAME.fullmatch(path.stem)
            if not found:
                continue  # not ours: the client's, or another program's
            key, base, attempt = _name_parts(found)
            next_file = f"{base}_t-{attempt + 1}.xml" if attempt < self.tries else None
            item = {"message_type": FAIL_BOX, "idempotency_key": key, "file": path.name,
                    "try": attempt, "tries": self.tries, "next_file": next_file}
            yield [item], lambda path=path, next_file=next_file: self._retry(path, next_file)

    def _retry(self, path: Path, next_file: str | None) -> None:
        if next_file is None:
            self._move(path, "failed", error=f"the Single Window client could not send "
                       f"{path.name}; no try left of {self.tries}")
            return
        try:
            os.replace(path, self.paths["outbox"] / next_file)
        except FileNotFoundError:  # moved meanwhile by another worker
            return
        _fsync_dir(self.paths["outbox"])

    def _move(self, path: Path, to: str, *, error: str | None = None) -> None:
        folder = self.paths[to]
        folder.mkdir(parents=True, exist_ok=True)
        if error is not None:
            log.warning("customs inbox: %s moved to %s: %s", path.name, folder, error)
            write_atomically(folder, f"{path.name}.error", (error + "\n").encode("utf-8"))
        os.replace(path, folder / path.name)
        _fsync_dir(folder)


def transport_from_config(config):
    """The outbox's transport: TALLY_CUSTOMS_TRANSPORT http (CustomsClient to
    TALLY_CUSTOMS_URL) or files (FileDropTransport)."""
    from tally.customs.client import CustomsClient

    kind = (config.get("CUSTOMS_TRANSPORT") or "http").lower()
    if kind == "files":
        return FileDropTransport.from_config(config)
    if kind != "http":
        raise ValueError(f"TALLY_CUSTOMS_TRANSPORT must be http or files, not {kind!r}")
    if not config.get("CUSTOMS_URL"):
        raise ValueError("TALLY_CUSTOMS_URL is not set")
    return CustomsClient(config["CUSTOMS_URL"], timeout=float(config["CUSTOMS_TIMEOUT"]))
