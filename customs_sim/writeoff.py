"""The write-off desk of the simulated customs (核销): white cards, manifests, tally status.

A mixin of core.Customs: it uses the customs' lock, state, clock and state file.
"""

from customs_sim import receipts as r
from customs_sim import validation

NORMAL_TALLY = "正常理货"  # the only tally status that lets tallying start (docs/customs.md)


def error_body(status: int, errors: list[str]) -> dict:
    """The house error shape (web/errors.py), so callers parse one format everywhere."""
    return {"ok": False, "error": errors[0], "errors": errors, "status": status}


class WriteOffDesk:
    """White-card verification, manifest write-off and the manifest's tally status."""

    def verify_white_card(self, body: object) -> tuple[int, dict]:
        """Verify a white card (白卡) for a transfer order: 200, or 409 when it is not valid."""
        errors = validation.required(body, ("whiteCardNo", "transferOrderNo"))
        if errors:
            return 400, error_body(400, errors)
        card, transfer = body["whiteCardNo"], body["transferOrderNo"]
        with self._lock:
            cards = self._state["whiteCards"]
            if card in cards["invalid"]:
                return 409, error_body(409, [f"white card {card} is not valid: "
                                             f"{cards['invalid'][card]}"])
            known = cards["verified"].get(card)
            if known is not None and known["transferOrderNo"] != transfer:
                return 409, error_body(409, [f"white card {card} was verified for transfer "
                                             f"order {known['transferOrderNo']}, not {transfer}"])
            if known is None:
                known = {"verified": True, "whiteCardNo": card, "transferOrderNo": transfer,
                         "vehicleNo": body.get("vehicleNo"),
                         "verifiedAt": r.stamp(self.clock())}
                cards["verified"][card] = known
                self._save()
        return 200, known

    def write_off(self, body: object) -> tuple[int, dict]:
        """Write a manifest off against its verified white card; the same manifest again gets the
        same answer."""
        fields = ("manifestNo", "billNo", "transferOrderNo", "whiteCardNo")
        # billNo (提运单号) may be missing: a manifest is written off by its number.
        errors = validation.required(body, ("manifestNo", "transferOrderNo", "whiteCardNo"))
        if isinstance(body, dict) and not isinstance(body.get("billNo") or "", str):
            errors.append("billNo must be text")
        if errors:
            return 400, error_body(400, errors)
        manifest_no, card = body["manifestNo"], body["whiteCardNo"]
        with self._lock:
            done = self._state["writeOffs"].get(manifest_no)
            if done is not None:
                if any(done[field] != body.get(field) for field in fields):
                    return 409, error_body(409, [
                        f"manifest {manifest_no} was already written off with bill "
                        f"{done['billNo']}, transfer order {done['transferOrderNo']} and white "
                        f"card {done['whiteCardNo']}"])
                return 200, done
            cards = self._state["whiteCards"]
            verified = cards["verified"].get(card)
            if verified is None:
                problem = f"white card {card} has not been verified: verify it first"
            elif card in cards["invalid"]:
                problem = f"white card {card} is not valid: {cards['invalid'][card]}"
            elif verified["transferOrderNo"] != body["transferOrderNo"]:
                problem = (f"white card {card} was verified for transfer order "
                           f"{verified['transferOrderNo']}, not {body['transferOrderNo']}")
            else:
                problem = None
            if problem:
                return 409, error_body(409, [problem])
            done = {"writtenOff": True, **{field: body.get(field) for field in fields},
                    "writtenOffAt": r.stamp(self.clock())}
            self._state["writeOffs"][manifest_no] = done
            self._save()
        return 200, done

    def tally_status(self, manifest_no: str) -> dict:
        """The manifest's tally status: 正常理货 unless set otherwise by control."""
        with self._lock:
            configured = self._state["tallyStatus"].get(manifest_no) or {}
            written_off = manifest_no in self._state["writeOffs"]
        status = configured.get("status", NORMAL_TALLY)
        return {"manifestNo": manifest_no, "tallyStatus": status,
                "text": configured.get("text") or f"接受申报_{status}",  # 接受申报_正常理货
                "normal": status == NORMAL_TALLY, "reason": configured.get("reason"),
                "writtenOff": written_off}

    def set_tally_status(self, body: object) -> dict:
        """Control: the tally status customs answers for one manifest (ValueError when wrong)."""
        errors = validation.required(body, ("manifestNo", "status"))
        for field in ("text", "reason"):
            if isinstance(body, dict) and body.get(field) is not None \
                    and not isinstance(body[field], str):
                errors.append(f"{field} must be text")
        if errors:
            raise ValueError("; ".join(errors))
        with self._lock:
            self._state["tallyStatus"][body["manifestNo"]] = {
                "status": body["status"], "text": body.get("text"), "reason": body.get("reason")}
            self._save()
        return self.tally_status(body["manifestNo"])

    def set_white_card(self, body: object) -> dict:
        """Control: mark a white card invalid ("valid": false) or valid again."""
        errors = validation.required(body, ("whiteCardNo",))
        if isinstance(body, dict) and not isinstance(body.get("valid"), bool):
            errors.append("valid must be true or false")
        if errors:
            raise ValueError("; ".join(errors))
        card, reason = body["whiteCardNo"], body.get("reason") or "白卡无效"
        with self._lock:
            if body["valid"]:
                self._state["whiteCards"]["invalid"].pop(card, None)
            else:
                self._state["whiteCards"]["invalid"][card] = str(reason)
            self._save()
        return {"whiteCardNo": card, "valid": body["valid"],
                "reason": None if body["valid"] else str(reason)}
