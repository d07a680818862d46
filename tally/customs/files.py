"""The file-drop transport: messages handed to the Single Window client (中国电子口岸 / 单一窗口
客户端) through folders, as real enterprises do; the client signs each with the IC card, sends
it, and puts customs' answers and receipts into an inbox folder.

The client's folders (as ronannnn/gx-customs-bridge, internal/services/customs/common/
filepath_handler.go, names them): ``OutBox`` (we write), ``SentBox`` (the client moves what it
sent), ``FailBox`` (what it could not send), ``InBox`` (answers and receipts for us). We add
``done`` and ``failed`` beside the inbox for the files we have processed.

Out: one file per message, the XML exactly as messages.render_xml builds it (UTF-8, the
envelope), named ``<type>_<I|E>_<our number>_t-<n>.xml`` as gx-customs-bridge names what it
drops (sas/filename_handler.go: ``INV101_I_123456_t-1.xml``), n being the version in our
idempotency key (``INV101-<etpsInnerInvtNo>-<version>``): a re-declaration is a new file. It is
written under a temporary name starting with a dot in the same folder, fsynced, then renamed
into place, so the client never reads half a file. A message whose file exists already in the
outbox, the sent or the fail box, or whose answer is in the inbox (or done / failed), is not
written again: a worker killed between the rename and the database commit sends it once.

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
from tally.customs.messages import render_xml
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
_ANSWER_NAME = re.compile(r"(Successed|Failed)_(INV101|SAS121)_([IEN])_([^_]+)_t-(\d+)(?:_.*)?")


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


def file_stem(kind: str, io: str, idempotency_key: str) -> str:
    """Our file's name without .xml: ``INV101_I_<our number>_t-<version>``, from the
    idempotency key ``<kind>-<our number>-<version>``; ValueError for another key."""
    found = re.fullmatch(rf"{kind}-(.+)-(\d+)", idempotency_key)
    if not found or kind not in MESSAGE_PATHS:
        raise ValueError(f"idempotency key {idempotency_key!r} is not <kind>-<number>-<version>")
    number = _UNSAFE.sub(lambda m: f"%{ord(m[0]):02X}", found[1])
    return f"{kind}_{io if io in ('I', 'E', 'N') else 'I'}_{number}_t-{int(found[2])}"


def key_of_answer(file_name: str) -> str | None:
    """The idempotency key of the message a Successed_ / Failed_ answer file is about, or None
    when the name is not one."""
    found = _ANSWER_NAME.fullmatch(Path(file_name).stem)
    if not found:
        return None
    return f"{found[2]}-{unquote(found[4])}-{int(found[5])}"


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

    def __init__(self, paths: dict[str, Path]):
        self.paths = paths
        self.base_url = f"file:{paths['outbox']}"

    @classmethod
    def from_config(cls, config) -> "FileDropTransport":
        """The transport with the configured folders."""
        return cls(folders(config))

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
        """Where the file of ``stem``, or its answer, is already (a folder's name), or None."""
        for folder in ("outbox", "sent", "fail"):
            if (self.paths[folder] / f"{stem}.xml").exists():
                return folder
        for folder in ("inbox", "done", "failed"):
            for prefix in ANSWER_PREFIXES:
                if any(self.paths[folder].glob(f"{prefix}{glob.escape(stem)}_*.xml")) or \
                        (self.paths[folder] / f"{prefix}{stem}.xml").exists():
                    return folder
        return None

    def receipt_batches(self, after: int = 0) -> Iterator[tuple[list[dict], Callable]]:
        """Each whole file of the inbox as a batch of one (answers and receipts, oldest first;
        answers before receipts), with the function that moves it to done once the batch is
        recorded. An unreadable file is moved to failed with its .error note, not yielded.
        ``after`` (the HTTP feed's position) means nothing here: a file is read until moved."""
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
