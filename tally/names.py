"""Bilingual names of the domain's codes, as the station and customs staff say them.

The one table for the pages, the PDF report (labels/report_sheet.py), the XLSX export and the
customs messages (which carry the Chinese word alone). Plain data: anything may import it.
"""

MANIFEST_STATUS_NAMES = {
    "arrived": "到货 Arrived",
    "inspected": "已查验 Inspected",
    "written_off": "已核销 Written off (理货中 tallying)",
    "tallied": "已理货 Tallied",
    "returned": "退单 Returned",
    "declared": "已申报 Declared",
    "vehicle_bound": "已车单关联 Vehicle bound",
    "released": "已核放 Released",
    "entered": "已入区 Entered",
}
WORKFLOW_ACTION_NAMES = {
    "pass_inspection": "查验通过 Pass inspection",
    "write_off": "核销 Write off",
    "confirm_tally": "理货确认 Confirm tally",
    "approve_list": "清单审核通过 List approved",
    "return_list": "清单退单 List returned",
    "correct_list": "修改清单 Correct the list",
    "bind_vehicle": "车单关联 Associate a vehicle",
    "release": "核放单审批 Release approved",
    "return_release": "核放单退单 Release order returned",
    "enter": "过卡 Pass the gate",
}
ACTOR_NAMES = {"customs": "海关 customs", "gate": "卡口 gate", "operator": "operator",
               "supervisor": "supervisor"}
# A manifest line at reconciliation; the pages show not_counted until counting begins.
LINE_STATUS_NAMES = {"match": "相符 Match", "short": "短少 Short", "over": "溢余 Over",
                     "not_counted": "未计数 Not counted yet"}
# The steps the tally waits for before it opens (tally.workflow.tally_stage).
PENDING_STEP_NAMES = {"pass_inspection": "查验 inspection", "write_off": "核销 write-off"}
DISCREPANCY_KIND_NAMES = {
    "short": "短少 Short",
    "over": "溢余 Over",
    "damaged": "破损 Damaged",
    "wrong_item": "错货 Wrong item",
}
# How a discrepancy record stands to an earlier one.
CORRECTION_ACTION_NAMES = {"record": "记录 Record", "replace": "替换 Replace",
                           "reverse": "撤销 Reverse"}


def chinese(name: str) -> str:
    """The Chinese word of a bilingual name: ``chinese("短少 Short") == "短少"``."""
    return name.split(" ", 1)[0]


def english(name: str) -> str:
    """The English words of a bilingual name: ``english("核销 write-off") == "write-off"``."""
    return name.split(" ", 1)[1]
